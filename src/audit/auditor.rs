//! The background auditor of `bulwark serve`: waits for the caches, then on every tick
//! judges the scopes that changed (and everything once per interval), publishes the results
//! to the shared [`AuditState`] and the metrics, and, on the replica holding the Lease,
//! writes the reports.
//!
//! Every replica judges (a pass is cheap, and a follower that takes over has its results
//! ready and a `/report` page to show); only the leader publishes findings metrics, so that
//! summing over replicas counts each finding once, and only the leader writes.
//! Evaluation runs on tokio's blocking pool so a pass never holds a worker thread that
//! admission requests are waiting for.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::Client;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::cache::{self, AuditCache, Changes, ClusterStores, Fingerprints};
use super::evaluate::CLUSTER_SCOPE;
use super::lease::{LeaderElector, LeaseConfig};
use super::metrics::AuditMetrics;
use super::report::{self, BuiltReport, ReportKey};
use super::state::{AuditState, FullPass, Scopes};
use super::writer::{ReportWriter, Tally};
use crate::cluster::KubeCluster;
use crate::config::Policy;
use crate::health::Metrics;

/// How long after a failed listing of the reports the writer tries again.
const SEED_RETRY: Duration = Duration::from_secs(60);

/// The name of the Lease the replicas elect the report writer with.
pub const LEASE_NAME: &str = "bulwark-audit";

/// How the auditor runs.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// bulwark's namespace (never judged; its BulwarkExceptions cover others; the Lease).
    pub own_namespace: String,
    /// Time between full passes.
    pub interval: Duration,
    /// Time between looks at what changed: changes within one tick are judged together.
    pub debounce: Duration,
    /// Most results per report.
    pub max_results: usize,
    /// The election.
    pub lease: LeaseConfig,
}

impl AuditOptions {
    /// Options from the policy's `audit:` section, for bulwark running in `own_namespace`.
    pub fn new(policy: &Policy, own_namespace: &str) -> AuditOptions {
        AuditOptions {
            own_namespace: own_namespace.into(),
            interval: Duration::from_secs(policy.audit.interval_seconds),
            debounce: Duration::from_secs(5),
            max_results: policy.audit.max_results_per_report,
            lease: LeaseConfig::new(LEASE_NAME, own_namespace, super::lease::identity()),
        }
    }
}

/// Starts the auditor: the workload watches, the election and the audit loop. The handle
/// completes after `shutdown`, once the Lease is released (when held), so the caller can
/// wait for it before exiting.
///
/// `policy` is a channel so that a reloaded policy can be sent in: the auditor then judges
/// everything again. Owners that count (`admission.controllers`) are read once, when the
/// watches start: objects pruned under the old table are not restored.
#[allow(clippy::too_many_arguments)] // the server's parts, each needed once
pub fn spawn(
    client: Client,
    cluster: &KubeCluster,
    policy: watch::Receiver<Arc<Policy>>,
    state: Arc<AuditState>,
    metrics: AuditMetrics,
    server_metrics: Arc<Metrics>,
    options: AuditOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    let changes = Arc::new(Changes::default());
    let current = policy.borrow().clone();
    let workloads = cache::start(client.clone(), current, changes.clone(), server_metrics);
    let cache = AuditCache {
        workloads,
        cluster: ClusterStores::of(cluster),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let (leading_tx, leading_rx) = watch::channel(false);
    let elector = LeaderElector::new(client.clone(), options.lease.clone());
    let election = tokio::spawn(elector.run(leading_tx, stopped(stop_rx.clone())));
    let auditor = Auditor::new(cache, changes, policy, state, metrics, client, options);
    tokio::spawn(async move {
        auditor.run(leading_rx, stop_rx).await;
        let _ = election.await;
    })
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// The audit loop's state.
pub struct Auditor {
    cache: AuditCache,
    changes: Arc<Changes>,
    policy: watch::Receiver<Arc<Policy>>,
    state: Arc<AuditState>,
    metrics: AuditMetrics,
    writer: ReportWriter,
    options: AuditOptions,
    fingerprints: Fingerprints,
    next_full: Option<Instant>,
    /// Whether the writer knows what is on the cluster for the current term.
    seeded: bool,
    /// After a failed seed (no CRD, no RBAC), when to try again: not every tick, so a
    /// cluster without the CRDs gets a warning a minute, not every 5 s.
    seed_again: Option<Instant>,
}

impl Auditor {
    /// An auditor over `cache` (already being filled) that writes with `client`.
    pub fn new(
        cache: AuditCache,
        changes: Arc<Changes>,
        policy: watch::Receiver<Arc<Policy>>,
        state: Arc<AuditState>,
        metrics: AuditMetrics,
        client: Client,
        options: AuditOptions,
    ) -> Auditor {
        Auditor {
            writer: ReportWriter::new(client, metrics.clone()),
            cache,
            changes,
            policy,
            state,
            metrics,
            options,
            fingerprints: Fingerprints::default(),
            next_full: None,
            seeded: false,
            seed_again: None,
        }
    }

    /// Waits for the caches, then judges and writes on every tick until `stop`.
    pub async fn run(
        mut self,
        mut leading: watch::Receiver<bool>,
        mut stop: watch::Receiver<bool>,
    ) {
        let ready = tokio::select! {
            ready = self.cache.wait_until_ready() => ready,
            _ = stop.wait_for(|v| *v) => return,
        };
        if !ready {
            tracing::warn!("audit caches stopped before their first list: auditor off");
            return;
        }
        tracing::info!("audit caches synced: judging existing objects");
        let mut tick = tokio::time::interval(self.options.debounce);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut policy_open = true;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|v| *v) => break,
                changed = leading.changed() => {
                    if changed.is_err() {
                        // The election has ended (shutdown): stop writing.
                        break;
                    }
                }
                changed = self.policy.changed(), if policy_open => match changed {
                    Ok(()) => self.changes.mark_all(),
                    Err(_) => policy_open = false,
                },
            }
            let leader = *leading.borrow_and_update();
            self.step(leader).await;
        }
        self.metrics.publish(&Default::default(), false);
        self.state.set_leader(false);
    }

    /// One tick: find what changed, judge it, publish, and write if `leader`.
    pub async fn step(&mut self, leader: bool) {
        let own = self.options.own_namespace.clone();
        let now = Fingerprints::of(&self.cache.cluster);
        self.changes.merge(self.fingerprints.changed(&now, &own));
        self.fingerprints = now;
        if self.next_full.is_none_or(|t| Instant::now() >= t) {
            self.changes.mark_all();
        }
        let scopes = self.changes.take();
        let judged = !scopes.is_empty();
        if judged {
            self.judge(&scopes).await;
        }

        let was_leader = self.state.read(|v| v.leader);
        self.state.set_leader(leader);
        if judged || was_leader != leader {
            self.state.read(|view| self.metrics.publish(view, leader));
        }
        if !leader {
            if self.seeded {
                self.writer.reset();
                self.seeded = false;
            }
            return;
        }
        let mut keys: BTreeSet<ReportKey> = self.writer.take_pending();
        if !self.seeded || scopes == Scopes::All {
            if !self.seeded {
                if self.seed_again.is_some_and(|t| Instant::now() < t) {
                    return;
                }
                if let Err(e) = self.writer.seed().await {
                    tracing::warn!(error = %e, "cannot list PolicyReports (is the wgpolicyk8s.io CRD installed? deploy/components/policy-reports); retrying in a minute");
                    self.seed_again = Some(Instant::now() + SEED_RETRY);
                    return;
                }
                self.seeded = true;
                self.seed_again = None;
            }
            // A new term or a full pass: every report, and every stale one.
            keys.extend(self.writer.written().cloned());
            self.state.read(|v| {
                keys.extend(v.scopes.keys().map(|s| ReportKey::of_scope(s)));
            });
        } else if let Scopes::Some(set) = &scopes {
            keys.extend(set.iter().map(|s| ReportKey::of_scope(s)));
        }
        // One report at a time, built on the blocking pool just before it is written: a full
        // set held at once was hundreds of MiB for 10,000 workloads (docs/benchmarks.md).
        let mut tally = Tally::default();
        for key in keys {
            let report = self.build(key.clone()).await;
            let result = self.writer.write(key.clone(), report).await;
            tally.add(key, result);
        }
        let stats = tally.finish();
        if stats.applied + stats.deleted + stats.failed > 0 {
            tracing::info!(
                applied = stats.applied,
                deleted = stats.deleted,
                unchanged = stats.unchanged,
                failed = stats.failed,
                "audit reports written"
            );
        }
    }

    /// Judges `scopes` on the blocking pool and stores the results.
    async fn judge(&mut self, scopes: &Scopes) {
        let policy = self.policy.borrow().clone();
        let cache = self.cache.clone();
        let own = self.options.own_namespace.clone();
        let task_scopes = scopes.clone();
        let started = Instant::now();
        let done = tokio::task::spawn_blocking(move || {
            let snapshot = cache.snapshot(&task_scopes, &policy, &own);
            let objects = snapshot.objects().len();
            let results = snapshot.evaluate(
                &policy,
                &own,
                crate::engine::exemptions::days_since_epoch(crate::clock::today()),
            );
            (results, objects)
        })
        .await;
        let (results, objects) = match done {
            Ok(r) => r,
            Err(e) => {
                // A panic in a rule: keep the previous results, try everything again later.
                tracing::error!(error = %e, "audit pass failed; keeping the previous results");
                self.changes.merge(scopes.clone());
                return;
            }
        };
        let elapsed = started.elapsed();
        self.state.replace(scopes, results);
        if *scopes == Scopes::All {
            let finished = unix_now();
            self.state.full_pass(FullPass {
                finished,
                duration: elapsed,
                objects,
            });
            self.metrics.full_pass(elapsed.as_secs_f64(), finished);
            self.next_full = Some(Instant::now() + self.options.interval);
            tracing::info!(
                objects,
                seconds = elapsed.as_secs_f64(),
                "audit full pass done"
            );
        } else {
            tracing::debug!(?scopes, seconds = elapsed.as_secs_f64(), "audit pass done");
        }
    }

    /// Builds the report for `key` from the current state, on the blocking pool (a report
    /// of 1,000 results is milliseconds of serialization).
    async fn build(&self, key: ReportKey) -> Option<BuiltReport> {
        let scope = match &key {
            ReportKey::Cluster => CLUSTER_SCOPE,
            ReportKey::Namespace(ns) => ns.as_str(),
        };
        let audit = self.state.read(|v| v.scopes.get(scope).cloned())?;
        let max = self.options.max_results;
        let now = unix_now();
        tokio::task::spawn_blocking(move || report::build(key, &audit, max, now))
            .await
            .ok()
            .flatten()
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
