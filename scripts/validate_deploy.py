"""Render and check the Helm chart offline; called by scripts/validate-deploy.sh inside its venv.

Steps, each fatal on failure:
  1. `helm lint --strict` (Helm's Go SDK through helm-python-sdk, no helm binary) for every values set.
  2. values.schema.json: every values set validates, and each case in REJECTED must be refused.
  3. Render every values set (name "vireo", namespace "vireo") into OUT/<set>/{core,crd}/<kind>-<name>.yaml,
     plus the EKS manifests in deploy/eks as the set "eks-manifests".
  4. Chart invariants kubernetes-validate cannot express (memory request = limit, ReadWriteOnce volumes, ...).
  5. Custom resources (ServiceMonitor, NodePool, EC2NodeClass) against deploy/validate/crd-schemas; any other
     non-core kind fails, so nothing escapes validation silently. Core kinds are left to kubernetes-validate.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "vireo"
EKS = ROOT / "deploy" / "eks"
CRD_SCHEMAS = ROOT / "deploy" / "validate" / "crd-schemas"
RELEASE = "vireo"
NAMESPACE = "vireo"

# Values that values.schema.json must refuse: (why, values, the JSON pointer Helm's error must name).
REJECTED: list[tuple[str, dict[str, Any], str]] = [
    ("two replicas would scatter writes until the router exists", {"replicaCount": 2}, "/replicaCount"),
    ("misspelled top-level key", {"persistance": {"size": "1Gi"}}, "persistance"),
    ("memory is not a quantity", {"resources": {"memory": "lots"}}, "/resources/memory"),
    ("a token may not contain a comma", {"auth": {"tokens": ["alice:pw,bob:pw"]}}, "/auth/tokens/0"),
    ("VIREO_TOKENS comes from the Secret only",
     {"extraEnv": [{"name": "VIREO_TOKENS", "value": "x"}]}, "/extraEnv/0/name"),
    ("an enabled PodDisruptionBudget needs minAvailable or maxUnavailable",
     {"podDisruptionBudget": {"enabled": True, "minAvailable": "", "maxUnavailable": ""}}, "/podDisruptionBudget"),
    ("ServiceMonitor authorization needs the key too",
     {"serviceMonitor": {"enabled": True, "authorization": {"secretName": "s", "secretKey": ""}}},
     "/serviceMonitor/authorization"),
    ("ports below 1024 need a capability the container drops", {"port": 80}, "/port"),
    ("unknown pull policy", {"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ("digest must be sha256:<64 hex>", {"image": {"digest": "latest"}}, "/image/digest"),
]


def values_sets() -> list[tuple[str, dict[str, Any]]]:
    """(name, user values) for the defaults, every chart ci/*-values.yaml and the EKS example."""
    sets: list[tuple[str, dict[str, Any]]] = [("default", {})]
    for path in sorted((CHART / "ci").glob("*-values.yaml")):
        sets.append((path.name.removesuffix("-values.yaml"), yaml.safe_load(path.read_text()) or {}))
    sets.append(("eks", yaml.safe_load((EKS / "values-eks.yaml").read_text())))
    return sets


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def lint(name: str, values: dict[str, Any], kube_version: str) -> None:
    report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE, kube_version=kube_version)
    # Severity 2 is a warning, 3 an error; --strict treats both as failures.
    problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    if not problems and report.get("errors"):
        problems = [{"path": "", "error": e} for e in report["errors"]]
    for m in problems:
        print(f"  lint [{name}] {m.get('path', '')}: {m.get('error')}", file=sys.stderr)
    if problems:
        fail(f"helm lint --strict found {len(problems)} problem(s) with values set '{name}'")


def check_rejections(chart: helm.Chart) -> None:
    for why, values, pointer in REJECTED:
        try:
            chart.validate_schema(values)
        except helm.HelmValuesError as error:
            if pointer not in str(error):
                fail(f"values.schema.json refused {json.dumps(values)} ({why}), but not at {pointer}: {error}")
            continue
        fail(f"values.schema.json accepted values it must refuse ({why}): {json.dumps(values)}")


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def is_core(doc: dict[str, Any]) -> bool:
    """Kinds served by Kubernetes itself; kubernetes-validate has their schemas."""
    group = doc["apiVersion"].rpartition("/")[0]
    return group in ("", "apps", "policy", "networking.k8s.io", "storage.k8s.io", "rbac.authorization.k8s.io")


def write(out: Path, set_name: str, rendered: list[tuple[str, str, list[dict[str, Any]]]]) -> None:
    """Write each template's output as rendered (yamllint checks the text Helm produces) into
    OUT/<set>/core or OUT/<set>/crd, named after the template."""
    for source, text, docs in rendered:
        core = {is_core(d) for d in docs}
        if len(core) != 1:
            fail(f"{source} mixes Kubernetes and custom resources; split it")
        sub = out / set_name / ("core" if core.pop() else "crd")
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / Path(source).name
        if path.exists():
            fail(f"two templates render to {path}")
        body = text.lstrip("\n") if text.endswith("\n") else text.lstrip("\n") + "\n"
        path.write_text(body if body.startswith("---") else f"---\n# Source: {source}\n{body}")


def render(chart: helm.Chart, name: str, values: dict[str, Any]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(template, rendered text, its objects) for every template that renders something."""
    chart.validate_schema(values)
    rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    result: list[tuple[str, str, list[dict[str, Any]]]] = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            if "{{" in text or not text.strip():
                fail(f"NOTES.txt did not render for values set '{name}'")
            continue
        docs = documents(text)
        if docs:
            result.append((template, text, docs))
    if not result:
        fail(f"values set '{name}' rendered no manifests")
    return result


def check_invariants(name: str, docs: list[dict[str, Any]]) -> None:
    kinds = {d["kind"] for d in docs}
    for required in ("StatefulSet", "Service", "PodDisruptionBudget"):
        if required not in kinds:
            fail(f"values set '{name}' renders no {required}")
    for doc in docs:
        where = f"{name}: {doc['kind']}/{doc['metadata']['name']}"
        if doc["metadata"].get("namespace", NAMESPACE) != NAMESPACE:
            fail(f"{where} is not in the release namespace")
        if doc["kind"] != "StatefulSet":
            continue
        pod = doc["spec"]["template"]["spec"]
        for c in pod["containers"]:
            res = c.get("resources", {})
            if res.get("requests", {}).get("memory") != res.get("limits", {}).get("memory"):
                fail(f"{where}: container {c['name']} memory request != limit")
            sc = c.get("securityContext", {})
            if not (sc.get("readOnlyRootFilesystem") and sc.get("allowPrivilegeEscalation") is False
                    and sc.get("capabilities", {}).get("drop") == ["ALL"]):
                fail(f"{where}: container {c['name']} is not locked down")
            if c["name"] != "vireo":
                continue  # a sidecar (the backup loop) serves nothing and needs no token
            for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"),
                                ("readinessProbe", "/readyz")):
                if c.get(probe, {}).get("httpGet", {}).get("path") != path:
                    fail(f"{where}: {probe} must GET {path}")
            env = {e["name"]: e for e in c.get("env", [])}
            if "secretKeyRef" not in env.get("VIREO_TOKENS", {}).get("valueFrom", {}):
                fail(f"{where}: VIREO_TOKENS must come from a Secret")
        if not any(c["name"] == "vireo" for c in pod["containers"]):
            fail(f"{where}: no container named vireo")
        if pod.get("securityContext", {}).get("runAsNonRoot") is not True:
            fail(f"{where}: pods must run as non-root")
        claims = doc["spec"].get("volumeClaimTemplates", [])
        if not claims or any(t["spec"]["accessModes"] != ["ReadWriteOnce"] for t in claims):
            fail(f"{where}: every volume claim template must be ReadWriteOnce (LMDB needs block storage)")


def check_custom_resources(name: str, docs: list[dict[str, Any]]) -> int:
    checked = 0
    for doc in docs:
        if is_core(doc):
            continue
        group_version = doc["apiVersion"].replace("/", "_")
        schema_path = CRD_SCHEMAS / f"{group_version}_{doc['kind']}.json"
        if not schema_path.exists():
            fail(f"{name}: no schema for {doc['apiVersion']} {doc['kind']} in {CRD_SCHEMAS.relative_to(ROOT)}")
        schema = json.loads(schema_path.read_text())
        validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        for e in errors:
            path = ".".join(str(p) for p in e.absolute_path) or "(root)"
            print(f"  {name}: {doc['kind']}/{doc['metadata']['name']} {path}: {e.message}", file=sys.stderr)
        if errors:
            fail(f"{doc['kind']}/{doc['metadata']['name']} does not match {schema_path.name}")
        # The schema must be able to fail: a misspelled field is refused.
        mutated = json.loads(json.dumps(doc))
        mutated["spec"]["misspeltField"] = True
        if validator.is_valid(mutated):
            fail(f"{schema_path.name} accepts unknown fields in spec; it checks nothing")
        checked += 1
    return checked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for the rendered manifests (emptied)")
    parser.add_argument("--kube-version", required=True, help="Kubernetes version for helm lint, e.g. v1.30.0")
    args = parser.parse_args()

    print(f"helm SDK {helm.helm_sdk_version()} (helm-python-sdk {helm.__version__})")
    out: Path = args.out
    if out.exists():
        for path in sorted(out.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
    out.mkdir(parents=True, exist_ok=True)

    with helm.Chart.load(CHART) as chart:
        if chart.schema is None:
            fail("the chart has no values.schema.json")
        check_rejections(chart)
        print(f"values.schema.json refused all {len(REJECTED)} invalid values sets")
        crs = 0
        for name, values in values_sets():
            lint(name, values, args.kube_version)
            rendered = render(chart, name, values)
            docs = [d for _, _, ds in rendered for d in ds]
            check_invariants(name, docs)
            crs += check_custom_resources(name, docs)
            write(out, name, rendered)
            print(f"rendered '{name}': {len(docs)} objects ({', '.join(sorted({d['kind'] for d in docs}))})")

    manifests = [(str(p.relative_to(ROOT)), p.read_text(), documents(p.read_text()))
                 for p in sorted(EKS.glob("*.yaml")) if not p.name.startswith("values")]
    eks_docs = [d for _, _, ds in manifests for d in ds]
    crs += check_custom_resources("eks-manifests", eks_docs)
    write(out, "eks-manifests", manifests)
    print(f"eks manifests: {len(eks_docs)} objects; custom resources checked against hand-written schemas: {crs}")


if __name__ == "__main__":
    main()
