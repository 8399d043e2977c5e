//! A snapshot of the cluster as plain data: the objects to judge and, indexed by namespace,
//! what the cluster-aware rules and the modes read (PDBs, HPAs, BulwarkExceptions, namespace
//! labels). It implements [`Cluster`], so a pass over it goes through admission's code.
//!
//! The server builds one per pass from its reflector caches; `bulwark check --cluster` can
//! build one from objects it listed once ([`Snapshot::insert_value`]); the benchmark builds
//! one from generated objects. Lookups are by namespace: the live [`crate::cluster`]
//! inventory filters its whole store on every call, which is right for one admission
//! request but would make a pass over 10,000 objects quadratic.

use std::collections::{BTreeMap, HashMap};

use super::evaluate::{AuditResults, Object, evaluate};
use crate::admission::{Admission, Cluster};
use crate::config::Policy;
use crate::engine::exemptions::Exception;
use crate::engine::{HpaInfo, Inventory, PdbInfo};
use crate::offline::ManifestInventory;
use crate::workload::{Kind, ParseError, Workload};

/// Objects and their surroundings, without IO.
#[derive(Debug, Default)]
pub struct Snapshot {
    objects: Vec<Object>,
    /// Namespace labels by namespace name.
    namespaces: HashMap<String, BTreeMap<String, String>>,
    /// PDBs, HPAs and BulwarkExceptions, one inventory per namespace (the same conversion
    /// `bulwark check` uses for a manifest set).
    inventories: HashMap<String, ManifestInventory>,
    /// Whether this is the whole universe (a manifest set) rather than a live cluster where
    /// a PDB may not have been applied yet. Live snapshots say no, as admission does.
    complete: bool,
}

impl Snapshot {
    /// Indexes `objects`. `complete` as [`Inventory::is_complete`]: `false` for anything
    /// read from a live cluster, so rules judge exactly as admission does.
    pub fn new(objects: Vec<Object>, complete: bool) -> Snapshot {
        let mut namespaces = HashMap::new();
        let mut by_namespace: HashMap<&str, Vec<&Workload>> = HashMap::new();
        for o in &objects {
            let w: &Workload = &o.workload;
            match w.kind {
                Kind::Namespace => {
                    namespaces.insert(w.name().to_owned(), w.meta.labels.clone());
                }
                Kind::PodDisruptionBudget
                | Kind::HorizontalPodAutoscaler
                | Kind::BulwarkException => {
                    let ns = crate::workload::namespace_or_default(w.namespace());
                    by_namespace.entry(ns).or_default().push(w);
                }
                _ => {}
            }
        }
        let inventories = by_namespace
            .into_iter()
            .map(|(ns, ws)| (ns.to_owned(), ManifestInventory::from_workloads(ws)))
            .collect();
        Snapshot {
            objects,
            namespaces,
            inventories,
            complete,
        }
    }

    /// Parses one object as the API serves it (JSON with `kind` and `metadata.uid`) into
    /// `objects`, for a caller that lists the cluster itself (`check --cluster`).
    pub fn insert_value(
        objects: &mut Vec<Object>,
        value: &serde_json::Value,
    ) -> Result<(), ParseError> {
        let workload = std::sync::Arc::new(Workload::from_value(value)?);
        let uid = value["metadata"]["uid"].as_str().unwrap_or("").to_owned();
        objects.push(Object { workload, uid });
        Ok(())
    }

    /// The objects, in the order given.
    pub fn objects(&self) -> &[Object] {
        &self.objects
    }

    /// Judges every object as admission would (see [`super::evaluate::evaluate`]).
    pub fn evaluate(&self, policy: &Policy, own_namespace: &str, today: i64) -> AuditResults {
        let admission = Admission {
            policy,
            cluster: Some(self),
            own_namespace,
            today,
        };
        evaluate(&self.objects, &admission)
    }

    fn inventory(&self, namespace: &str) -> Option<&ManifestInventory> {
        self.inventories
            .get(crate::workload::namespace_or_default(namespace))
    }
}

impl Inventory for Snapshot {
    fn pdbs(&self, namespace: &str) -> Option<Vec<PdbInfo>> {
        Some(
            self.inventory(namespace)
                .and_then(|i| i.pdbs(namespace))
                .unwrap_or_default(),
        )
    }

    fn hpa_for(&self, namespace: &str, kind: &str, name: &str) -> Option<Option<HpaInfo>> {
        Some(
            self.inventory(namespace)
                .and_then(|i| i.hpa_for(namespace, kind, name))
                .flatten(),
        )
    }

    fn exceptions(&self, namespace: &str, own_namespace: &str) -> Option<Vec<Exception>> {
        let mut all = self
            .inventory(namespace)
            .and_then(|i| i.exceptions(namespace, own_namespace))
            .unwrap_or_default();
        if namespace != own_namespace
            && let Some(own) = self.inventory(own_namespace)
        {
            all.extend(
                own.exceptions(own_namespace, own_namespace)
                    .unwrap_or_default(),
            );
        }
        Some(all)
    }

    fn is_complete(&self) -> bool {
        self.complete
    }
}

impl Cluster for Snapshot {
    fn namespace_labels(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.namespaces.get(name).cloned()
    }

    fn as_inventory(&self) -> &dyn Inventory {
        self
    }
}
