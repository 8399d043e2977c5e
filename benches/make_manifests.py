#!/usr/bin/env python3
"""Writes N copies of examples/deployment.yaml (Deployment + its PDB), renamed, as one
multi-document YAML file: the input of the `bulwark check` throughput measurement.

    python3 benches/make_manifests.py 1000 > /tmp/1000.yaml
    hyperfine --warmup 2 'target/release/bulwark check /tmp/1000.yaml'
"""
import pathlib
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
src = (pathlib.Path(__file__).parent.parent / "examples" / "deployment.yaml").read_text()
docs = []
for i in range(n):
    docs.append(src.replace("web", f"web-{i}"))
sys.stdout.write("\n---\n".join(docs))
