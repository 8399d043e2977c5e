#!/usr/bin/env python3
"""Builds the benchmark AdmissionReviews from examples/deployment.yaml.

A realistic CREATE review carries what the API server sends: the object with
server-set metadata (uid, creationTimestamp, generation, managedFields from
kubectl's server-side apply), several containers with full security contexts,
probes, env and volumes. The UPDATE review carries object and oldObject.
Outputs: tests/fixtures/admission/deployment-{create,update}.json
"""
import copy, json, os, sys
import yaml

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(root, "examples/deployment.yaml")) as f:
    dep = next(yaml.safe_load_all(f))

base = dep["spec"]["template"]["spec"]["containers"][0]
sidecars = []
for name, port in [("metrics-exporter", 9100), ("log-shipper", 24224)]:
    c = copy.deepcopy(base)
    c["name"] = name
    c["image"] = f"registry.example.com/shop/{name}:2.1.0"
    c["ports"] = [{"name": name[:6], "containerPort": port}]
    c["env"] = c["env"] + [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                           {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
    sidecars.append(c)
dep["spec"]["template"]["spec"]["containers"] += sidecars
dep["spec"]["template"]["spec"]["volumes"].append({"name": "config", "configMap": {"name": "web-config"}})

def fields(obj):
    """managedFields-style set of every leaf path (f:key)."""
    if isinstance(obj, dict):
        return {f"f:{k}": fields(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return {"k:{\"name\":\"%s\"}" % i.get("name", n) if isinstance(i, dict) else f"v:{n}": fields(i)
                for n, i in enumerate(obj)}
    return {}

dep["metadata"].update({
    "uid": "9c1f1d2e-5b0b-4c55-9a4f-3f5a2b1c0d9e",
    "creationTimestamp": "2026-11-23T09:00:00Z",
    "generation": 1,
    "annotations": {"deployment.kubernetes.io/revision": "1",
                    "kubectl.kubernetes.io/last-applied-configuration": ""},
    "managedFields": [{
        "manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1",
        "time": "2026-11-23T09:00:00Z", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": fields({"labels": dep["metadata"]["labels"]}), "f:spec": fields(dep["spec"])},
    }],
})

def review(op, obj, old):
    return {
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "0df28fbd-5f5f-4e1a-9a84-1b5b2b6a7c3d",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "requestKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "name": "web", "namespace": "shop", "operation": op,
            "userInfo": {"username": "system:serviceaccount:ci:deployer", "uid": "4b1d",
                         "groups": ["system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"]},
            "object": obj, "oldObject": old, "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions" if op == "CREATE" else "UpdateOptions",
                        "fieldManager": "kubectl"},
        },
    }

out = os.path.join(root, "tests/fixtures/admission")
os.makedirs(out, exist_ok=True)
create = review("CREATE", dep, None)
old = copy.deepcopy(dep)
new = copy.deepcopy(dep)
new["metadata"]["generation"] = 2
new["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com/shop/web:1.4.3"
update = review("UPDATE", new, old)
for name, r in [("deployment-create.json", create), ("deployment-update.json", update)]:
    with open(os.path.join(out, name), "w") as f:
        json.dump(r, f, separators=(",", ":"))
    print(name, os.path.getsize(os.path.join(out, name)), "bytes", file=sys.stderr)
