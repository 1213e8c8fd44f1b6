"""The deployment files (deploy/) are valid for the KubeRay CRDs and agree with the lock.

No Kubernetes or Docker runs here: the manifests are checked offline against the OpenAPI schemas of
KubeRay's CRDs (vendored in tests/core/data/kuberay/, see its README), made strict the way
``kubectl apply`` (``--validate=strict``) treats unknown fields, and the Dockerfile is read as text.
"""

from __future__ import annotations

import copy
import gzip
import json
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SCHEMAS = Path(__file__).parent / "data" / "kuberay"
MANIFESTS = {
    "RayCluster": DEPLOY / "kuberay" / "raycluster.yaml",
    "RayJob": DEPLOY / "kuberay" / "rayjob.yaml",
}


def strict(schema: Any) -> Any:
    """The schema with unknown fields refused (``additionalProperties: false``) where the CRD lists
    its fields; the API server prunes or, with strict field validation, rejects them."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) if key != "properties" else value for key, value in schema.items()}
    if "properties" in schema:
        out["properties"] = {name: strict(sub) for name, sub in schema["properties"].items()}
        if "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    return out


def crd_validator(kind: str) -> jsonschema.Validator:
    """A validator for ``kind`` from the vendored KubeRay CRD schema (OpenAPI v3 is draft 4-like)."""
    schema = json.loads(gzip.decompress((SCHEMAS / f"{kind.lower()}.schema.json.gz").read_bytes()))
    # apiVersion/kind/metadata are checked by the API server, not the CRD: pin them here.
    schema["properties"]["apiVersion"] = {"enum": ["ray.io/v1"]}
    schema["properties"]["kind"] = {"enum": [kind]}
    schema["required"] = ["apiVersion", "kind", "metadata", "spec"]
    strict_schema = strict(schema)
    jsonschema.Draft4Validator.check_schema(strict_schema)
    return jsonschema.Draft4Validator(strict_schema)


def cel_guarded_fields(schema: Any, doc: Any, path: str = "") -> list[str]:
    """Paths in ``doc`` whose schema carries CEL rules (``x-kubernetes-validations``), which no
    offline validator evaluates; the manifests must not rely on them."""
    found = [path] if isinstance(schema, dict) and schema.get("x-kubernetes-validations") else []
    if isinstance(doc, dict) and isinstance(schema, dict):
        for name, value in doc.items():
            sub = schema.get("properties", {}).get(name) or schema.get("additionalProperties")
            if isinstance(sub, dict):
                found += cel_guarded_fields(sub, value, f"{path}.{name}")
    elif isinstance(doc, list) and isinstance(schema, dict) and isinstance(schema.get("items"), dict):
        for i, value in enumerate(doc):
            found += cel_guarded_fields(schema["items"], value, f"{path}[{i}]")
    return found


def errors(kind: str, doc: dict[str, Any]) -> list[str]:
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in crd_validator(kind).iter_errors(doc)
    ]


def load(kind: str) -> dict[str, Any]:
    return yaml.safe_load(MANIFESTS[kind].read_text())


def cluster_spec(kind: str, doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["rayClusterSpec"] if kind == "RayJob" else doc["spec"]


def ray_containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    groups = [spec["headGroupSpec"], *spec.get("workerGroupSpecs", [])]
    return [group["template"]["spec"]["containers"][0] for group in groups]  # KubeRay: Ray is container 0


def lock_pin(name: str) -> str:
    match = re.search(rf"^{re.escape(name)}==(\S+)$", (ROOT / "requirements.lock").read_text(), re.M)
    assert match, f"requirements.lock pins no {name}"
    return match.group(1)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined, comments dropped."""
    lines = [
        line for line in (DEPLOY / "Dockerfile").read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^\s*(\w+)\s+(.*)$", text, re.M)]


@pytest.mark.parametrize("kind", sorted(MANIFESTS))
def test_manifest_is_valid_for_the_kuberay_crd(kind):
    doc = load(kind)
    assert errors(kind, doc) == []
    schema = json.loads(gzip.decompress((SCHEMAS / f"{kind.lower()}.schema.json.gz").read_bytes()))
    assert cel_guarded_fields(schema, doc) == []


@pytest.mark.parametrize(
    ("kind", "breakage", "expected"),
    [
        (
            "RayCluster",
            lambda d: d["spec"]["workerGroupSpecs"][0].update(replica=2),
            "'replica' was unexpected",
        ),
        (
            "RayCluster",
            lambda d: d["spec"]["workerGroupSpecs"][0].update(replicas="2"),
            "is not of type 'integer'",
        ),
        ("RayCluster", lambda d: d["spec"]["authOptions"].update(mode="tokens"), "is not one of"),
        ("RayJob", lambda d: d["spec"].update(shutdownAfterJobFinishes="yes"), "is not of type 'boolean'"),
        (
            "RayJob",
            lambda d: d["spec"]["rayClusterSpec"].pop("headGroupSpec"),
            "'headGroupSpec' is a required",
        ),
        ("RayJob", lambda d: d["spec"].update(entrypoint=["roboact", "demo"]), "is not of type 'string'"),
        (
            "RayJob",
            lambda d: d["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0][
                "resources"
            ]["limits"].update(memory="8 GiB"),
            "does not match",
        ),
    ],
)
def test_the_schema_check_catches_broken_manifests(kind, breakage, expected):
    """The check can fail: a misspelt field, a wrong type or enum value, a bad quantity, a missing head."""
    doc = copy.deepcopy(load(kind))
    breakage(doc)
    found = errors(kind, doc)
    assert any(expected in e for e in found), found


@pytest.mark.parametrize("kind", sorted(MANIFESTS))
def test_manifests_pin_the_locked_ray_and_one_image_with_resources_and_token_auth(kind):
    doc = load(kind)
    spec = cluster_spec(kind, doc)
    assert spec["rayVersion"] == lock_pin("ray")
    assert spec["authOptions"]["mode"] == "token"  # docs/cluster.md: clients need RAY_AUTH_MODE=token
    containers = ray_containers(spec)
    assert len({c["image"] for c in containers}) == 1, "head and workers must run one image"
    for c in containers:
        assert c["resources"]["requests"] == c["resources"]["limits"], c["name"]
        assert {"cpu", "memory"} <= set(c["resources"]["limits"]), c["name"]
        env = {e["name"]: e.get("valueFrom", {}) for e in c["env"]}
        assert "configMapKeyRef" in env["AWS_ENDPOINT_URL"] or "secretKeyRef" in env["AWS_ENDPOINT_URL"]
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= {
            n for n, v in env.items() if "secretKeyRef" in v
        }


def test_rayjob_runs_the_tiny_demo_into_a_bucket():
    spec = load("RayJob")["spec"]
    argv = shlex.split(spec["entrypoint"])
    assert argv[:2] == ["roboact", "demo"]
    assert argv[argv.index("--scale") + 1] == "tiny"
    assert argv[argv.index("--storage") + 1].startswith("s3://")
    # Several nodes and the bucket as the only shared storage: no shared volume, no --shared-fs (the
    # stages hand the worker pods the bucket's copies; a shared flag without a shared disk would
    # hand them the head pod's paths)
    assert "--shared-fs" not in argv
    for c in ray_containers(spec["rayClusterSpec"]):
        assert all(m["mountPath"] == "/dev/shm" for m in c.get("volumeMounts", [])), c["name"]


def test_dockerfile_installs_from_the_lock_and_pins_its_ray():
    steps = dockerfile_instructions()
    base = [args for op, args in steps if op == "FROM"]
    assert len(base) == 1 and base[0].startswith("python:3.11"), base
    args = dict(a.split("=", 1) for op, a in steps if op == "ARG" and "=" in a)
    assert args["RAY_VERSION"] == lock_pin("ray")
    copied = " ".join(a for op, a in steps if op == "COPY")
    assert "requirements.lock" in copied and "pyproject.toml" in copied
    runs = [a for op, a in steps if op == "RUN"]
    assert any(re.search(r"pip install (\S+ )*-c requirements\.lock (\S+ )*\.(\s|$)", r) for r in runs), runs
    assert any("ray.__version__" in r and "${RAY_VERSION}" in r for r in runs), (
        "build must check the installed ray"
    )
    # The headless-GL packages of scripts/system_deps.sh (Chromium only serves the report's test).
    system = (
        re.search(r"pkgs=\(([^)]*)\)", (ROOT / "scripts" / "system_deps.sh").read_text()).group(1).split()
    )
    apt = " ".join(r for r in runs if "apt-get install" in r).split()
    assert set(system) - {"chromium"} <= set(apt)
    envs = " ".join(a for op, a in steps if op == "ENV")
    assert "MUJOCO_GL=egl" in envs
    users = [a for op, a in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must not run as root"


def test_dockerfile_copies_every_package_folder_of_pyproject():
    """A package folder missing from the image breaks ``pip install .`` only inside the build."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    folders = {d.split("/")[0] for d in project["tool"]["setuptools"]["package-dir"].values()}
    copied = {a.split()[0].rstrip("/") for op, a in dockerfile_instructions() if op == "COPY"}
    assert folders <= copied, folders - copied


def test_the_examples_rayjob_is_valid_for_the_kuberay_crd():
    """docs/cluster.md's GPU training RayJob is checked against the same schema as deploy/'s."""
    doc = yaml.safe_load((DEPLOY.parent / "examples" / "cluster" / "rayjob.yaml").read_text())
    assert errors("RayJob", doc) == []
