# syntax=docker/dockerfile:1
#
# bulwark container image: a release build of the single binary on distroless.
#
# NOTE: no container engine runs on the dev or CI machines, so this file is not built by
# .ci/run; build it where you have BuildKit (`docker buildx build`). It only needs the
# sources listed in the COPY lines below; tests/integration/deploy.rs checks they exist.
#
#   docker buildx build -t ghcr.io/bulwark-dev/bulwark:0.1.0 .

############################ build ############################
FROM rust:1-bookworm AS build
WORKDIR /src

# Everything `cargo build --release --locked` reads: the manifest and lock file, the
# sources, the bench target Cargo.toml declares, and the default policy that
# src/config.rs embeds with include_str!. A new explicit [[bench]]/[[test]]/[[example]]
# target or include_str! outside src/ needs its file copied here (and let through in
# .dockerignore) too.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY deploy/base/policy.yaml ./deploy/base/policy.yaml

# --locked: fail instead of resolving anything differently from Cargo.lock.
# The caches speed up CI rebuilds; the binary is copied out of the cached target dir.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin bulwark \
 && install -m 0555 target/release/bulwark /bulwark

############################ runtime ############################
# glibc-linked (rustls with ring, no OpenSSL), so the cc variant (glibc, libgcc) rather
# than static. Runs as nonroot (65532) and has no shell.
FROM gcr.io/distroless/cc-debian12:nonroot

LABEL org.opencontainers.image.title="bulwark" \
      org.opencontainers.image.description="Kubernetes admission webhook that enforces and defaults a production baseline" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/bulwark-dev/bulwark"

COPY --from=build /bulwark /bulwark

USER 65532:65532
# 8443: webhook HTTPS (/validate, /mutate). 8080: plain HTTP /healthz, /readyz, /metrics.
EXPOSE 8443 8080

ENTRYPOINT ["/bulwark"]
# The Deployment (deploy/base/deployment.yaml) passes the same arguments plus
# --log-format json.
CMD ["serve", "--cert", "/tls/tls.crt", "--key", "/tls/tls.key", "--config", "/etc/bulwark/policy.yaml", "--listen", "0.0.0.0:8443", "--health-listen", "0.0.0.0:8080"]
