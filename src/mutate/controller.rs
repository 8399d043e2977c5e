//! Controller-level defaults: the Deployment and DaemonSet rollout strategies.

use serde_json::{Value, json};

use super::Cx;
use super::patch::{Patcher, Path};
use crate::rules::availability::rolling_update::no_surge_reason;
use crate::workload::IntOrString;

const ROLLING_UPDATE: &str = "rolling-update";

fn int_or_string(v: &Value) -> Option<IntOrString> {
    match v {
        Value::Number(n) => n.as_i64().map(IntOrString::Int),
        Value::String(s) => Some(IntOrString::Str(s.clone())),
        _ => None,
    }
}

/// Deployment `strategy`: `RollingUpdate` with `maxUnavailable: 0` (and `maxSurge: 25%`, the
/// Kubernetes default, when the whole strategy is unset), so rollouts never take capacity
/// away. `Recreate` and any value the author set are left alone; `maxUnavailable: 0` is only
/// added when `maxSurge` is unset or non-zero (both zero is rejected by the API server).
pub(super) fn rolling_update(cx: &mut Cx<'_>, p: &mut Patcher) {
    if !cx.cfg.rolling_update.enabled || !cx.wants(ROLLING_UPDATE) {
        return;
    }
    let strategy = Path::dotted("spec.strategy");
    let changed = if !p.is_set(&strategy) {
        p.fill(
            &strategy,
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}}),
        )
    } else {
        let kind = p.get(&strategy.key("type")).and_then(Value::as_str);
        let rolling = p.get(&strategy).is_some_and(Value::is_object)
            && kind.is_none_or(|k| k == "RollingUpdate");
        let ru = strategy.key("rollingUpdate");
        let surge_ok = p
            .get(&ru.key("maxSurge"))
            .filter(|v| !v.is_null())
            .is_none_or(|v| int_or_string(v).is_some_and(|s| !s.is_zero()));
        rolling && surge_ok && p.fill(&ru.key("maxUnavailable"), json!(0))
    };
    if changed {
        cx.mark(ROLLING_UPDATE);
    }
}

/// DaemonSet `updateStrategy`: `RollingUpdate` with `maxUnavailable: 0, maxSurge: 1` when the
/// author set none and the pods can surge, so each node's new pod is up before the old one
/// stops. Pods on hostPort or hostNetwork cannot surge (the new pod needs the old one's port
/// on the same node): they keep the Kubernetes default, one node at a time, which is what the
/// rule asks of them. A strategy the author wrote, in part or whole, is never touched.
pub(super) fn daemonset_rolling_update(cx: &mut Cx<'_>, p: &mut Patcher) {
    if !cx.cfg.rolling_update.enabled || !cx.wants(ROLLING_UPDATE) {
        return;
    }
    if cx
        .w
        .pod()
        .is_none_or(|(_, pod)| no_surge_reason(pod).is_some())
    {
        return;
    }
    let strategy = Path::dotted("spec.updateStrategy");
    if !p.is_set(&strategy)
        && p.fill(
            &strategy,
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}),
        )
    {
        cx.mark(ROLLING_UPDATE);
    }
}
