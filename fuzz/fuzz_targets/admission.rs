//! libFuzzer target: an arbitrary request body through admission on both endpoints.
//!
//! Checks, on every input: nothing panics (debug assertions are on, so integer overflow
//! counts); an answered review echoes `request.uid` and has a status exactly when it denies;
//! a `/mutate` patch parses as RFC 6902, applies to `request.object`, and mutating the result
//! again yields an empty patch. `request.object` is also parsed and evaluated directly.

#![no_main]

use std::sync::LazyLock;

use bulwark::admission::{Admission, Endpoint};
use bulwark::config::Policy;
use bulwark::engine::{self, Context};
use bulwark::mutate::{Operation, mutate};
use bulwark::workload::Workload;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

static POLICY: LazyLock<Policy> = LazyLock::new(Policy::default);

const TODAY: i64 = 20_000;

/// `request.uid` and `request.object` as sent, read as admission reads the envelope (other
/// fields are only skipped, which serde_json does without range-checking numbers or checking
/// UTF-8); the object is then parsed strictly.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    request: Option<Request<'a>>,
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(default)]
    uid: Option<Value>,
    #[serde(borrow, default)]
    object: Option<&'a RawValue>,
}

fuzz_target!(|data: &[u8]| {
    let admission = Admission {
        policy: &POLICY,
        cluster: None,
        own_namespace: "bulwark-system",
        today: TODAY,
    };
    let request = serde_json::from_slice::<Envelope<'_>>(data)
        .ok()
        .and_then(|e| e.request);
    let uid = request
        .as_ref()
        .and_then(|r| r.uid.as_ref())
        .and_then(Value::as_str)
        .map(str::to_owned);
    // `Err` for an object a `Value` cannot hold (a number such as 1e999).
    let object: Option<Result<Value, serde_json::Error>> = request
        .and_then(|r| r.object)
        .map(|raw| serde_json::from_str(raw.get()));

    for endpoint in [Endpoint::Validate, Endpoint::Mutate] {
        let Ok(out) = admission.review(endpoint, data) else {
            continue;
        };
        assert!(!out.uid.is_empty(), "answered without a uid");
        if let Some(uid) = &uid {
            assert_eq!(&out.uid, uid, "uid not echoed");
        }
        assert_eq!(out.allowed, out.status.is_none(), "{:?}", out.status);
        let response: Value = serde_json::from_slice(&out.to_json()).expect("response is JSON");
        assert_eq!(response["response"]["uid"].as_str(), Some(out.uid.as_str()));

        let Some(bytes) = &out.patch else { continue };
        assert_eq!(endpoint, Endpoint::Mutate, "only /mutate patches");
        let object = match object.as_ref().expect("a patch implies request.object") {
            Ok(object) => object,
            // Mutation skips `status` and `metadata.managedFields` unparsed, so it answers an
            // object with an out-of-range number there; the API server never sends one.
            Err(e) if e.to_string().contains("number out of range") => continue,
            Err(e) => panic!("a patch for an unreadable object: {e}"),
        };
        let op = match out.operation.as_str() {
            "CREATE" => Operation::Create,
            "UPDATE" => Operation::Update,
            other => panic!("a patch for operation {other:?}"),
        };
        let patch: json_patch::Patch = serde_json::from_slice(bytes).expect("patch is RFC 6902");
        assert!(!patch.0.is_empty(), "empty patch sent");
        let mut patched = object.clone();
        json_patch::patch(&mut patched, &patch).expect("patch applies to request.object");
        let again = mutate(&patched, op, &POLICY).expect("the patched object mutates");
        assert!(
            again.is_empty(),
            "not idempotent: first {patch:?}, then {:?}",
            again.patch
        );
    }

    // The same object straight into the parser, the engine and mutation.
    if let Some(Ok(object)) = &object {
        let text = object.to_string();
        let by_value = Workload::from_value(object);
        let by_json = Workload::from_json_any(&text);
        assert_eq!(by_value.is_ok(), by_json.is_ok(), "parsers disagree");
        if let Ok(w) = by_value {
            let ctx = Context {
                inventory: None,
                today: Some(TODAY),
                ..Context::default()
            };
            let _ = engine::evaluate(&w, ctx, &POLICY);
        }
        for op in [Operation::Create, Operation::Update] {
            if let Ok(m) = mutate(object, op, &POLICY) {
                let mut patched = object.clone();
                json_patch::patch(&mut patched, &m.patch).expect("direct patch applies");
                let again = mutate(&patched, op, &POLICY).expect("the patched object mutates");
                assert!(again.is_empty(), "not idempotent ({op:?})");
            }
        }
    }
});
