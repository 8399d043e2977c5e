//! One report writer among replicas: leader election on a `coordination.k8s.io/v1` Lease,
//! the protocol of client-go's `leaderelection` written against kube's `Api<Lease>`.
//!
//! Why not a crate: `kube-leader-election` 0.44 and `kube-coordinate` 2.0 depend on kube 4
//! and kube 2; either would pull in a second kube and k8s-openapi.
//!
//! - Every write is a `replace` carrying the `resourceVersion` that was read, so two replicas
//!   racing for the Lease cannot both win: the API server answers the loser 409.
//! - A holder's Lease is judged expired by this replica's own clock: `leaseDurationSeconds`
//!   after this replica last saw the record change, never by comparing `renewTime` with the
//!   local clock (the replicas' clocks may disagree).
//! - The leader renews every `retry_period` and steps down when it has not renewed within
//!   `renew_deadline`, which is shorter than the lease, so it stops writing before another
//!   replica may start.
//! - On shutdown the leader clears `holderIdentity`, so a follower takes over at its next
//!   try instead of waiting out the lease.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;

use super::AuditError;

/// Timing and identity of the election.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// The Lease's name.
    pub name: String,
    /// The Lease's namespace (bulwark's own).
    pub namespace: String,
    /// This replica's identity, unique among replicas.
    pub identity: String,
    /// How long a holder's claim lasts without renewal.
    pub lease_duration: Duration,
    /// How long the leader keeps leading without a successful renewal.
    pub renew_deadline: Duration,
    /// Time between tries (and renewals).
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// client-go's defaults (15 s, 10 s, 2 s) for the Lease `name` in `namespace`.
    pub fn new(name: &str, namespace: &str, identity: String) -> LeaseConfig {
        LeaseConfig {
            name: name.into(),
            namespace: namespace.into(),
            identity,
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// A unique identity for this process: the pod's name (the hostname in a pod) and a random
/// suffix, so two processes on one host never both think they hold the Lease.
pub fn identity() -> String {
    use std::hash::{BuildHasher, Hasher};
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "bulwark".into());
    // RandomState is seeded randomly per process: a random number without a crate.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{host}_{:08x}", h.finish() as u32)
}

/// The last Lease record this replica saw, and when (its own clock).
#[derive(Debug)]
struct Observed {
    holder: String,
    renew: Option<MicroTime>,
    duration: Duration,
    at: Instant,
}

/// Tries for, holds and releases the Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaseConfig,
    observed: Option<Observed>,
}

fn conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

impl LeaderElector {
    /// An elector for `config` (no request is sent until [`LeaderElector::step`]).
    pub fn new(client: Client, config: LeaseConfig) -> LeaderElector {
        LeaderElector {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
        }
    }

    fn spec(&self, now: Timestamp, acquire: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(self.config.lease_duration.as_secs().max(1) as i32),
            acquire_time: acquire.or(Some(MicroTime(now))),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// One try: creates the Lease, renews it, or takes it over once expired. `Ok(true)`
    /// when this replica holds it afterwards; a lost race is `Ok(false)`, not an error.
    pub async fn step(&mut self) -> Result<bool, AuditError> {
        let now = Timestamp::now();
        let Some(lease) = self.api.get_opt(&self.config.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(now, None, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(e) if conflict(&e) => Ok(false), // another replica created it first
                Err(e) => Err(e.into()),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let duration = Duration::from_secs(
            spec.lease_duration_seconds
                .map_or(self.config.lease_duration.as_secs(), |s| s.max(0) as u64),
        );
        let changed = self
            .observed
            .as_ref()
            .is_none_or(|o| o.holder != holder || o.renew != spec.renew_time);
        if changed {
            self.observed = Some(Observed {
                holder: holder.clone(),
                renew: spec.renew_time.clone(),
                duration,
                at: Instant::now(),
            });
        }
        let mine = holder == self.config.identity;
        let expired = holder.is_empty()
            || self
                .observed
                .as_ref()
                .is_some_and(|o| o.at + o.duration <= Instant::now());
        if !mine && !expired {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0);
        let new_spec = if mine {
            self.spec(now, spec.acquire_time.clone(), transitions)
        } else {
            self.spec(now, None, transitions + 1)
        };
        let mut next = lease;
        next.spec = Some(new_spec);
        // `next` carries the resourceVersion read above: a concurrent writer makes this 409.
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &next)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if conflict(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives the Lease up if this replica holds it: clears the holder so the next replica
    /// takes over at its next try.
    pub async fn release(&mut self) -> Result<(), AuditError> {
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(&self.config.identity) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        self.api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await?;
        Ok(())
    }

    /// Runs the election until `shutdown`, publishing whether this replica leads on
    /// `leading`, then releases the Lease if held.
    pub async fn run(mut self, leading: watch::Sender<bool>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut last_renewal: Option<Instant> = None;
        loop {
            let step = tokio::select! {
                step = self.step() => step,
                () = &mut shutdown => break,
            };
            let leader = match step {
                Ok(true) => {
                    last_renewal = Some(Instant::now());
                    true
                }
                Ok(false) => false,
                Err(e) => {
                    tracing::warn!(lease = %self.config.name, error = %e, "audit leader election: cannot read or write the Lease");
                    // Keep leading only while the last renewal is recent enough that no one
                    // else can have taken over.
                    *leading.borrow()
                        && last_renewal.is_some_and(|t| t.elapsed() < self.config.renew_deadline)
                }
            };
            if leading.send_replace(leader) != leader {
                tracing::info!(identity = %self.config.identity, leader, "audit leader election: role changed");
            }
            tokio::select! {
                () = tokio::time::sleep(self.config.retry_period) => {}
                () = &mut shutdown => break,
            }
        }
        let was_leader = leading.send_replace(false);
        if was_leader {
            match tokio::time::timeout(self.config.renew_deadline, self.release()).await {
                Ok(Ok(())) => tracing::info!("audit leader election: Lease released"),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "audit leader election: cannot release the Lease; the next leader waits for it to expire")
                }
                Err(_) => tracing::warn!("audit leader election: releasing the Lease timed out"),
            }
        }
    }
}
