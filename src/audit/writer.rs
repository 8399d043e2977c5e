//! Writes the reports: server-side apply under bulwark's field manager, only when a report's
//! content changed, and a delete for a report whose scope no longer has results.
//!
//! What is on the cluster is known by each report's content hash annotation: read once when
//! this replica becomes the writer ([`ReportWriter::seed`]), then kept up to date with each
//! write. A failed write leaves the hash as it was and the key pending, so the next pass
//! retries it.

use std::collections::{BTreeMap, BTreeSet};

use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};

use super::AuditError;
use super::metrics::AuditMetrics;
use super::report::{
    API_VERSION, BuiltReport, HASH_ANNOTATION, MANAGED_BY, REPORT_NAME, ReportKey,
};

/// The field manager of every write.
pub const FIELD_MANAGER: &str = "bulwark";

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "wgpolicyk8s.io".into(),
        version: "v1alpha2".into(),
        api_version: API_VERSION.into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// What one [`ReportWriter::sync`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Reports applied.
    pub applied: usize,
    /// Reports deleted.
    pub deleted: usize,
    /// Reports left alone: the cluster already says the same.
    pub unchanged: usize,
    /// Writes that failed (retried later).
    pub failed: usize,
}

/// The report writer of the leader.
pub struct ReportWriter {
    client: Client,
    metrics: AuditMetrics,
    /// Content hash of every report bulwark knows to be on the cluster.
    written: BTreeMap<ReportKey, String>,
    /// Keys whose last write failed.
    pending: BTreeSet<ReportKey>,
}

impl ReportWriter {
    /// A writer that knows of no report yet (call [`ReportWriter::seed`]).
    pub fn new(client: Client, metrics: AuditMetrics) -> ReportWriter {
        ReportWriter {
            client,
            metrics,
            written: BTreeMap::new(),
            pending: BTreeSet::new(),
        }
    }

    fn api(&self, key: &ReportKey) -> Api<DynamicObject> {
        match key {
            ReportKey::Cluster => Api::all_with(
                self.client.clone(),
                &resource("ClusterPolicyReport", "clusterpolicyreports"),
            ),
            ReportKey::Namespace(ns) => Api::namespaced_with(
                self.client.clone(),
                ns,
                &resource("PolicyReport", "policyreports"),
            ),
        }
    }

    /// Forgets what is on the cluster: another replica may write while this one does not.
    pub fn reset(&mut self) {
        self.written.clear();
        self.pending.clear();
    }

    /// Reads which of bulwark's reports exist and what they hold (metadata only), so a new
    /// writer rewrites nothing that is already right and deletes what has gone stale.
    pub async fn seed(&mut self) -> Result<(), AuditError> {
        let selector = format!("{}={}", MANAGED_BY.0, MANAGED_BY.1);
        let params = ListParams::default().labels(&selector);
        let mut written = BTreeMap::new();
        for (kind, plural) in [
            ("PolicyReport", "policyreports"),
            ("ClusterPolicyReport", "clusterpolicyreports"),
        ] {
            let api: Api<DynamicObject> =
                Api::all_with(self.client.clone(), &resource(kind, plural));
            let list = api.list_metadata(&params).await?;
            for item in list.items {
                let m = &item.metadata;
                if m.name.as_deref() != Some(REPORT_NAME) {
                    continue;
                }
                let key = match (kind, m.namespace.as_deref()) {
                    ("ClusterPolicyReport", _) => ReportKey::Cluster,
                    (_, Some(ns)) => ReportKey::Namespace(ns.to_owned()),
                    (_, None) => continue,
                };
                let hash = m
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(HASH_ANNOTATION))
                    .cloned()
                    .unwrap_or_default();
                written.insert(key, hash);
            }
        }
        self.written = written;
        self.pending.clear();
        Ok(())
    }

    /// Keys known to be on the cluster.
    pub fn written(&self) -> impl Iterator<Item = &ReportKey> {
        self.written.keys()
    }

    /// Takes the keys whose last write failed, to be built and synced again.
    pub fn take_pending(&mut self) -> BTreeSet<ReportKey> {
        std::mem::take(&mut self.pending)
    }

    /// Makes the cluster match `report` for `key`: `Some` is applied unless the cluster
    /// already holds the same content, `None` deletes the report if bulwark wrote one. A
    /// failure is counted and leaves the key pending.
    pub async fn write(
        &mut self,
        key: ReportKey,
        report: Option<BuiltReport>,
    ) -> Result<Written, AuditError> {
        let result = match report {
            Some(r) if self.written.get(&key) == Some(&r.hash) => return Ok(Written::Unchanged),
            Some(r) => {
                let params = PatchParams::apply(FIELD_MANAGER).force();
                let done = self
                    .api(&key)
                    .patch(REPORT_NAME, &params, &Patch::Apply(&r.json))
                    .await;
                self.metrics.write("apply", done.is_ok());
                done.map(|_| {
                    self.written.insert(key.clone(), r.hash);
                    Written::Applied
                })
            }
            None if !self.written.contains_key(&key) => return Ok(Written::Nothing),
            None => {
                let done = self
                    .api(&key)
                    .delete(REPORT_NAME, &DeleteParams::default())
                    .await;
                // Already gone (its namespace was deleted) is as good as deleted.
                let done = match done {
                    Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
                    other => other.map(|_| ()),
                };
                self.metrics.write("delete", done.is_ok());
                done.map(|()| {
                    self.written.remove(&key);
                    Written::Deleted
                })
            }
        };
        result.map_err(|e| {
            self.pending.insert(key);
            AuditError::Kube(e)
        })
    }

    /// [`ReportWriter::write`] for each of `desired`, counted; the first failure is logged.
    pub async fn sync(
        &mut self,
        desired: impl IntoIterator<Item = (ReportKey, Option<BuiltReport>)>,
    ) -> SyncStats {
        let mut tally = Tally::default();
        for (key, report) in desired {
            let result = self.write(key.clone(), report).await;
            tally.add(key, result);
        }
        tally.finish()
    }
}

/// Counts a batch of writes and keeps the first failure, to log one warning per batch.
#[derive(Debug, Default)]
pub struct Tally {
    stats: SyncStats,
    first_error: Option<(ReportKey, AuditError)>,
}

impl Tally {
    /// Counts the result of writing `key`.
    pub fn add(&mut self, key: ReportKey, result: Result<Written, AuditError>) {
        match result {
            Ok(w) => self.stats.count(w),
            Err(e) => {
                self.stats.failed += 1;
                self.first_error.get_or_insert((key, e));
            }
        }
    }

    /// Logs the first failure, if any, and gives the counts.
    pub fn finish(self) -> SyncStats {
        if let Some((key, e)) = self.first_error {
            tracing::warn!(
                report = ?key, failed = self.stats.failed, error = %e,
                "cannot write PolicyReports (is the wgpolicyk8s.io CRD installed? deploy/components/policy-reports); retrying on the next pass"
            );
        }
        self.stats
    }
}

/// What one [`ReportWriter::write`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Applied.
    Applied,
    /// Deleted.
    Deleted,
    /// Left alone: the cluster already says the same.
    Unchanged,
    /// Nothing to do: no report, none written.
    Nothing,
}

impl SyncStats {
    /// Counts one write.
    pub fn count(&mut self, w: Written) {
        match w {
            Written::Applied => self.applied += 1,
            Written::Deleted => self.deleted += 1,
            Written::Unchanged => self.unchanged += 1,
            Written::Nothing => {}
        }
    }
}
