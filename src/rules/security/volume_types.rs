//! `volume-types`: only volume types that cannot reach the node (PSS restricted "Volume
//! Types").

use crate::engine::{Category, CheckCx, PssLevel, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct VolumeTypes;

static META: RuleMeta = RuleMeta {
    id: "volume-types",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: Some(PssLevel::Restricted),
    summary: "Volumes must be configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected or secret",
    remediation: "Replace other volume sources with a persistentVolumeClaim (backed by a StorageClass) or one of the allowed types",
};

/// Volume sources the restricted level allows.
const ALLOWED: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

impl Rule for VolumeTypes {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some((_, pod)) = cx.obj.pod() else { return };
        for (i, v) in pod.volumes.iter().enumerate() {
            for source in &v.sources {
                if !ALLOWED.contains(&source.as_str()) {
                    out.report(
                        cx.pod_path(&format!("volumes[{i}].{source}")),
                        format!(
                            "volume {:?} uses a {source} source; the restricted level allows only {}",
                            v.name,
                            ALLOWED.join(", ")
                        ),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{paths, run};

    #[test]
    fn flags_disallowed_sources_with_exact_paths() {
        let f = run(
            &VolumeTypes,
            "kind: Deployment\nspec:\n  template:\n    spec:\n      containers: [{name: a}]\n      volumes:\n      - {name: ok, emptyDir: {}}\n      - {name: nfs, nfs: {server: s, path: /x}}\n      - {name: host, hostPath: {path: /}}\n",
        );
        assert_eq!(
            paths(&f),
            [
                "spec.template.spec.volumes[1].nfs",
                "spec.template.spec.volumes[2].hostPath"
            ]
        );
        assert!(f[0].message.contains("\"nfs\""), "{}", f[0].message);
    }

    #[test]
    fn passes_allowed_sources_and_sourceless_volumes() {
        let f = run(
            &VolumeTypes,
            "kind: Pod\nspec:\n  containers: [{name: a}]\n  volumes:\n  - {name: v0}\n  - {name: v1, configMap: {name: c}}\n  - {name: v2, csi: {driver: d}}\n  - {name: v3, downwardAPI: {items: []}}\n  - {name: v4, emptyDir: {}}\n  - {name: v5, ephemeral: {volumeClaimTemplate: {spec: {}}}}\n  - {name: v6, image: {reference: 'r:1'}}\n  - {name: v7, persistentVolumeClaim: {claimName: c}}\n  - {name: v8, projected: {sources: []}}\n  - {name: v9, secret: {secretName: s}}\n  - {name: v10, gitRepo: null}\n",
        );
        assert!(f.is_empty(), "{f:?}");
    }
}
