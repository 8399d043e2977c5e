//! Criterion benches of the engine alone: parse + validate, mutate, and the whole admission
//! decision, on a realistic Deployment review (~9.5 KB with managedFields), a minimal Pod,
//! and objects from 10 KB to ~1 MB to show cost grows linearly with size.
//!
//! Run: `cargo bench --bench engine` (figures in docs/benchmarks.md).

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use std::hint::black_box;

use bulwark::admission::{Admission, Endpoint};
use bulwark::config::Policy;
use bulwark::engine::{self, Context};
use bulwark::mutate::{self, Operation};
use bulwark::workload::Workload;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;

// The allocator the `bulwark` binary ships with (src/main.rs), so these figures are its.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/admission/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `request.object` of a review, as JSON text.
fn object_of(review: &str) -> String {
    let v: Value = serde_json::from_str(review).expect("review json");
    v["request"]["object"].to_string()
}

/// A Deployment grown to about `bytes` by adding env vars to its first container.
fn grown(review: &str, bytes: usize) -> String {
    let mut v: Value = serde_json::from_str(review).expect("review json");
    let mut i = 0;
    while serde_json::to_string(&v).map(|s| s.len()).unwrap_or(0) < bytes {
        let env = v["request"]["object"]["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array_mut()
            .expect("env");
        for _ in 0..64 {
            env.push(serde_json::json!({"name": format!("SETTING_{i}"), "value": "some configuration value"}));
            i += 1;
        }
    }
    serde_json::to_string(&v).expect("json")
}

const MINIMAL_POD: &str = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"shop","name":"p","operation":"CREATE","userInfo":{"username":"u"},"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"shop"},"spec":{"containers":[{"name":"c","image":"nginx:1.27"}]}}}}"#;

fn benches(c: &mut Criterion) {
    let policy = Policy::default();
    let create = fixture("deployment-create.json");
    let update = fixture("deployment-update.json");
    let object = object_of(&create);
    let value: Value = serde_json::from_str(&object).expect("object");
    let admission = Admission {
        policy: &policy,
        cluster: None,
        own_namespace: "bulwark-system",
        today: 20_000,
    };

    let mut g = c.benchmark_group("deployment");
    g.throughput(Throughput::Bytes(create.len() as u64));
    g.bench_function("parse_view", |b| {
        b.iter(|| Workload::from_json("Deployment", black_box(&object)).expect("parses"))
    });
    let parsed = Workload::from_json("Deployment", &object).expect("parses");
    g.bench_function("evaluate", |b| {
        b.iter(|| engine::evaluate(black_box(&parsed), Context::default(), &policy))
    });
    g.bench_function("parse_and_evaluate", |b| {
        b.iter(|| {
            let w = Workload::from_json("Deployment", black_box(&object)).expect("parses");
            engine::evaluate(&w, Context::default(), &policy)
        })
    });
    g.bench_function("parse_value", |b| {
        b.iter(|| serde_json::from_str::<Value>(black_box(&object)).expect("value"))
    });
    g.bench_function("parse_object_pruned", |b| {
        b.iter(|| mutate::parse_object(black_box(&object)).expect("value"))
    });
    g.bench_function("mutate_value", |b| {
        b.iter(|| mutate::mutate(black_box(&value), Operation::Create, &policy).expect("mutates"))
    });
    // The engine alone, as the webhook runs it once the request is decoded: all rules on the
    // typed view, then the defaults as a patch against the pruned tree, reusing that view.
    let pruned = mutate::parse_object(&object).expect("value");
    g.bench_function("engine_validate_mutate", |b| {
        b.iter(|| {
            let r = engine::evaluate(black_box(&parsed), Context::default(), &policy);
            let m = mutate::mutate_parsed(
                black_box(&pruned),
                Some(&parsed),
                Operation::Create,
                &policy,
                Context::default(),
            )
            .expect("mutates");
            (r, m)
        })
    });
    g.bench_function("validate_and_mutate", |b| {
        b.iter(|| {
            let w = Workload::from_json("Deployment", black_box(&object)).expect("parses");
            let r = engine::evaluate(&w, Context::default(), &policy);
            // As the webhook does: a Value without managedFields/status for the patcher.
            let v = mutate::parse_object(black_box(&object)).expect("value");
            (
                r,
                mutate::mutate(&v, Operation::Create, &policy).expect("mutates"),
            )
        })
    });
    g.bench_function("review_validate_create", |b| {
        b.iter(|| {
            admission
                .review(Endpoint::Validate, black_box(create.as_bytes()))
                .expect("review")
                .to_json()
        })
    });
    g.bench_function("review_mutate_create", |b| {
        b.iter(|| {
            admission
                .review(Endpoint::Mutate, black_box(create.as_bytes()))
                .expect("review")
                .to_json()
        })
    });
    g.throughput(Throughput::Bytes(update.len() as u64));
    g.bench_function("review_validate_update", |b| {
        b.iter(|| {
            admission
                .review(Endpoint::Validate, black_box(update.as_bytes()))
                .expect("review")
                .to_json()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("minimal_pod");
    g.bench_function("review_validate", |b| {
        b.iter(|| {
            admission
                .review(Endpoint::Validate, black_box(MINIMAL_POD.as_bytes()))
                .expect("review")
                .to_json()
        })
    });
    g.bench_function("review_mutate", |b| {
        b.iter(|| {
            admission
                .review(Endpoint::Mutate, black_box(MINIMAL_POD.as_bytes()))
                .expect("review")
                .to_json()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("size");
    g.sample_size(20);
    for size in [10_000usize, 100_000, 1_000_000] {
        let review = grown(&create, size);
        g.throughput(Throughput::Bytes(review.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("review_validate", size),
            &review,
            |b, r| {
                b.iter(|| {
                    admission
                        .review(Endpoint::Validate, black_box(r.as_bytes()))
                        .expect("review")
                })
            },
        );
        g.bench_with_input(BenchmarkId::new("review_mutate", size), &review, |b, r| {
            b.iter(|| {
                admission
                    .review(Endpoint::Mutate, black_box(r.as_bytes()))
                    .expect("review")
            })
        });
    }
    g.finish();
}

criterion_group!(engine_benches, benches);
criterion_main!(engine_benches);
