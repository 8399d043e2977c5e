-- wrk script: POSTs one recorded AdmissionReview per request, as the API server does.
-- The body file is given by the BULWARK_REVIEW environment variable (see run.sh).
local path = os.getenv("BULWARK_REVIEW")
local f = assert(io.open(path, "rb"), "cannot read " .. tostring(path))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
