#!/usr/bin/env bash
# Render and validate deploy/ offline, with PyPI tools only (versions pinned in deploy/validate/requirements.txt):
#   helm lint --strict, values.schema.json (accepting and refusing), rendering of the default values, the
#   chart's ci/*-values.yaml and deploy/eks/values-eks.yaml (helm-python-sdk: Helm's Go SDK, no helm binary);
#   kubernetes-validate --strict against the oldest Kubernetes the chart supports and a recent one;
#   the custom resources (ServiceMonitor, Karpenter) against deploy/validate/crd-schemas;
#   yamllint; hadolint on the Dockerfile; checkov (kubernetes + dockerfile, skips explained in checkov.yaml).
# The tools live in a venv under .build-deploy/ (kept between runs, rebuilt when requirements.txt changes).
# Usage: scripts/validate-deploy.sh        Environment: VIREO_DEPLOY_VENV to put the venv elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${VIREO_DEPLOY_VENV:-.build-deploy/venv}
out=.build-deploy/rendered
requirements=deploy/validate/requirements.txt
# The chart's kubeVersion floor (Chart.yaml) and a recent release; kubernetes-validate bundles both schemas.
kube_versions=(1.30.0 1.35.0)
uv_version=0.13.8
start=$SECONDS

step() { printf '\n== %s (%ss)\n' "$1" "$((SECONDS - start))"; }

step "tools"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ ! -x $venv/bin/python || "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]]; then
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        # Debian's python3 needs python3-venv for `python3 -m venv` (CI runs as root on a fresh Debian).
        if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        else
            echo "error: python3 cannot create a venv; install python3-venv" >&2
            exit 1
        fi
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
    # uv installs the ~100 pinned wheels several times faster than pip; the list is complete, so no resolving.
    "$venv/bin/pip" install -q --disable-pip-version-check --no-cache-dir "uv==$uv_version"
    UV_NO_CACHE=1 "$venv/bin/uv" pip install -q --python "$venv/bin/python" --no-deps --only-binary :all: \
        -r "$requirements"
    echo "$want" > "$venv/.requirements.sha256"
fi
bin=$venv/bin

step "helm lint, values schema, render, invariants, custom resources"
"$bin/python" scripts/validate_deploy.py --out "$out" --kube-version "v${kube_versions[0]}"

# The validator must be able to fail: a manifest with a misspelt field is refused.
selftest=$out/.selftest.yaml
sed 's/^spec:$/spec:\n  misspeltField: true/' "$out/default/core/statefulset.yaml" > "$selftest"
if "$bin/kubernetes-validate" --strict --quiet -k "${kube_versions[0]}" "$selftest" >/dev/null 2>&1; then
    echo "error: kubernetes-validate --strict accepted an unknown field" >&2
    exit 1
fi
rm "$selftest"

for version in "${kube_versions[@]}"; do
    step "kubernetes-validate --strict, Kubernetes $version"
    log=$("$bin/kubernetes-validate" --strict --quiet -k "$version" "$out"/*/core/*.yaml 2>&1) || {
        echo "$log" >&2
        exit 1
    }
    # It only warns about a kind it has no schema for; in core/ every kind must have one.
    if [[ -n $log ]]; then
        echo "$log" >&2
        echo "error: kubernetes-validate could not check every manifest (see above)" >&2
        exit 1
    fi
    echo "$(ls "$out"/*/core/*.yaml | wc -l) manifests valid"
done

step "yamllint"
"$bin/yamllint" --strict -c deploy/validate/yamllint.yaml deploy "$out"
echo "clean"

step "hadolint"
"$bin/hadolint" deploy/docker/Dockerfile
echo "clean"

step "checkov"
# One run over both folders; it prints the kubernetes summary twice (per folder, then combined).
"$bin/checkov" --config-file deploy/validate/checkov.yaml -d "$out" -d deploy/docker

step "deploy/ is valid"
