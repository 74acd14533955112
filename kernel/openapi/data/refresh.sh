#!/usr/bin/env bash
# Refreshes definitions-v<K8S>.json.gz from the PyPI package kubernetes-validate.
# Usage: kernel/openapi/data/refresh.sh [PACKAGE_VERSION] [KUBERNETES_VERSION]
set -euo pipefail
pkg=${1:-1.37.0}
k8s=${2:-1.35}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pip download --quiet --no-deps --dest "$tmp" "kubernetes-validate==$pkg"
python3 - "$tmp" "$k8s" <<'PY'
import glob, sys, zipfile
tmp, k8s = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(f"{tmp}/*.whl")[0])
name = f"kubernetes_validate/kubernetes-json-schema/v{k8s}.0-local/_definitions.json"
open(f"{tmp}/definitions.json", "wb").write(wheel.read(name))
PY
gzip -9 -n -c "$tmp/definitions.json" > "$here/definitions-v$k8s.json.gz"
sha256sum "$tmp/definitions.json" "$here/definitions-v$k8s.json.gz"
