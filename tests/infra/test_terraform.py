"""infra/terraform checked offline: `terraform fmt`, the HCL parses and holds the cluster we document, and
checkov finds nothing (skips only with a reason beside the resource). Providers and modules cannot be downloaded
here, so `terraform validate` / `plan` are left to a machine with network access (docs/cluster.md).

The tools live in .venv-infra (scripts/setup.sh installs infra/requirements-checks.txt there); without it these
tests skip and say why."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "infra" / "terraform"
TOOLS = REPO / ".venv-infra" / "bin"
CONCERNS = {"versions.tf", "providers.tf", "variables.tf", "vpc.tf", "eks.tf", "kuberay.tf", "s3.tf", "iam.tf",
            "outputs.tf"}


def tool(name: str) -> str:
    path = TOOLS / name
    if not path.exists():
        pytest.skip(f"{path} is missing: run `bash scripts/setup.sh` (it installs infra/requirements-checks.txt)")
    return str(path)


@pytest.fixture(scope="module")
def hcl() -> dict[str, dict]:
    """file name -> python-hcl2's parse of it (run in .venv-infra, where python-hcl2 is installed)."""
    script = ("import hcl2, json, pathlib, sys; print(json.dumps({p.name: hcl2.load(open(p)) "
              "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.tf'))}))")
    done = subprocess.run([tool("python"), "-c", script, str(TERRAFORM)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"a .tf file does not parse:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout)


def first(value):
    """python-hcl2 wraps attribute values in lists; the value itself."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def blocks(hcl: dict, kind: str) -> dict[tuple[str, str] | str, dict]:
    """`resource` / `data` -> {(type, name): body}; `module` / `variable` / `output` -> {name: body}."""
    out = {}
    for parsed in hcl.values():
        for block in parsed.get(kind, []):
            for key, body in block.items():
                if kind in ("resource", "data"):
                    for name, inner in body.items():
                        out[(key, name)] = inner
                else:
                    out[key] = body
    return out


def test_terraform_fmt_is_clean():
    done = subprocess.run([tool("terraform"), "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"terraform fmt would change:\n{done.stdout[-3000:]}{done.stderr[-1000:]}"


def test_files_are_split_by_concern_and_versions_pinned(hcl):
    assert CONCERNS <= set(hcl), f"missing: {sorted(CONCERNS - set(hcl))}"
    terraform = first(hcl["versions.tf"]["terraform"])
    assert first(terraform["required_version"]).startswith(">=")
    providers = first(terraform["required_providers"])
    assert {"aws", "kubernetes", "helm"} <= set(providers)
    for name, spec in providers.items():
        assert first(spec)["version"].startswith("~>"), f"provider {name} is not pinned: {spec}"
    for name, body in blocks(hcl, "module").items():
        source, version = first(body["source"]), first(body.get("version", [""]))
        assert source.startswith("terraform-aws-modules/"), (name, source)
        assert version.startswith("~>"), f"module {name} is not pinned: {version!r}"


def test_the_cluster_has_kuberay_gpu_workers_and_a_system_pool(hcl):
    releases = {first(b["chart"]): b for (t, _), b in blocks(hcl, "resource").items() if t == "helm_release"}
    assert {"kuberay-operator", "ray-cluster", "nvidia-device-plugin"} <= set(releases)
    for chart, body in releases.items():
        assert first(body["version"]).startswith("${var."), f"chart {chart} version is not a pinned variable"
    eks = blocks(hcl, "module")["eks"]
    groups = first(eks["eks_managed_node_groups"])
    assert {"system", "gpu", "cpu"} <= set(groups)
    text = (TERRAFORM / "eks.tf").read_text()
    assert "nvidia.com/gpu" in text and "NoSchedule" in text  # GPU nodes only take pods that ask for a GPU
    gpu_type = (TERRAFORM / "variables.tf").read_text().split('variable "gpu_node_group"')[1].split("validation")[0]
    assert "min_size       = optional(number, 0)" in gpu_type  # GPU capacity scales to zero between jobs


def test_the_bucket_is_encrypted_private_versioned_and_expires_staging(hcl):
    resources = blocks(hcl, "resource")
    block = resources[("aws_s3_bucket_public_access_block", "data")]
    for key in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        assert first(block[key]) is True, key
    sse = json.dumps(resources[("aws_s3_bucket_server_side_encryption_configuration", "data")])
    assert "aws:kms" in sse
    assert first(resources[("aws_kms_key", "data")]["enable_key_rotation"]) is True
    versioning = first(resources[("aws_s3_bucket_versioning", "data")]["versioning_configuration"])
    assert first(versioning["status"]) == "Enabled"
    lifecycle = json.dumps(resources[("aws_s3_bucket_lifecycle_configuration", "data")])
    assert "staging" in lifecycle and "abort_incomplete_multipart_upload" in lifecycle
    policy = json.dumps(blocks(hcl, "data")[("aws_iam_policy_document", "data_bucket")])
    assert "aws:SecureTransport" in policy


def test_the_ray_pods_role_is_scoped_to_the_bucket_prefixes(hcl):
    data = blocks(hcl, "data")
    statements = data[("aws_iam_policy_document", "ray_data")]["statement"]
    actions = [a for s in statements for a in first(s.get("actions", [[]]))]
    assert actions and not [a for a in actions if a in ("*", "s3:*", "kms:*")], actions
    for statement in statements:
        resources = json.dumps(statement.get("resources"))
        assert "*" not in resources.replace("/*", "").replace("*\"", ""), resources  # no account-wide resource
    assert ("aws_eks_pod_identity_association", "ray") in blocks(hcl, "resource")
    trust = json.dumps(data[("aws_iam_policy_document", "ray_assume")])
    assert "pods.eks.amazonaws.com" in trust


def test_the_ray_api_is_never_public(hcl):
    variables = blocks(hcl, "variable")
    assert first(variables["cluster_endpoint_public_access_cidrs"]).get("default") in ([[]], [], None)
    assert first(variables["ray_head_internal_lb"])["default"] in (False, [False])
    template = (TERRAFORM / "templates" / "raycluster-values.yaml.tftpl").read_text()
    assert "ClusterIP" in template
    assert "LoadBalancer" not in template or "aws-load-balancer-scheme: internal" in template
    for path in TERRAFORM.rglob("*.tf"):
        code = "\n".join(line.split("#")[0] for line in path.read_text().splitlines())
        assert "0.0.0.0/0" not in code or path.name == "variables.tf", path  # there only to be refused


def test_variables_are_typed_and_described_and_outputs_tell_how_to_reach_the_cluster(hcl):
    for name, body in blocks(hcl, "variable").items():
        assert "type" in body and first(body.get("description", [""])), f"variable {name}"
    outputs = blocks(hcl, "output")
    assert {"cluster_name", "bucket_name", "ray_pod_role_arn", "kubectl_config_command",
            "ray_dashboard_port_forward_command", "ray_address"} <= set(outputs)
    for name, body in outputs.items():
        assert first(body.get("description", [""])), f"output {name} has no description"


def test_no_credentials_in_the_code():
    for path in list(TERRAFORM.rglob("*")) + list((REPO / "infra" / "k8s").rglob("*")):
        if path.is_file():
            text = path.read_text()
            for word in ("access_key", "secret_key", "AKIA", "aws_secret_access_key"):
                assert word not in text, f"{path}: {word}"


def _checkov(target: list[str], framework: str) -> dict:
    done = subprocess.run([tool("checkov"), *target, "--framework", framework, "--output", "json", "--quiet",
                           "--skip-download", "--compact"], capture_output=True, text=True, timeout=600, cwd=REPO)
    report = json.loads(done.stdout)
    return report[0] if isinstance(report, list) else report


def _pods_of_the_manifests(folder: Path) -> None:
    """checkov has no checks for KubeRay's RayCluster / RayJob kinds, so their pod templates are written out as the
    Pods KubeRay makes of them (placeholders filled as envsubst would, the ray.io/cluster label KubeRay adds to Ray
    pods, the templates' skip annotations kept); other kinds are copied as they are."""
    import re

    import yaml

    values = {"RAY_IMAGE": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/space:0123abc", "BUCKET": "bucket",
              "CAMPAIGN": "campaign"}
    for manifest in sorted((REPO / "infra" / "k8s").glob("*.yaml")):
        text = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], manifest.read_text())
        for doc in yaml.safe_load_all(text):
            if doc["kind"] == "RayCluster":
                spec = doc["spec"]
                templates = [("head", spec["headGroupSpec"]["template"], True)]
                templates += [(g["groupName"], g["template"], True) for g in spec["workerGroupSpecs"]]
            elif doc["kind"] == "RayJob":
                templates = [("submitter", doc["spec"]["submitterPodTemplate"], False)]
            else:
                (folder / f"{manifest.stem}-{doc['kind'].lower()}.yaml").write_text(yaml.safe_dump(doc))
                continue
            for name, template, ray_pod in templates:
                meta = dict(template.get("metadata") or {})
                meta.update(name=f"{manifest.stem}-{name}", namespace=doc["metadata"].get("namespace"))
                if ray_pod:
                    meta["labels"] = {**meta.get("labels", {}), "ray.io/cluster": doc["metadata"]["name"]}
                pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]}
                (folder / f"{meta['name']}.yaml").write_text(yaml.safe_dump(pod, sort_keys=False))


@pytest.mark.slow
@pytest.mark.parametrize("target,framework", [
    (["-d", "infra/terraform"], "terraform"),
    (["-d", "PODS"], "kubernetes"),
    (["-f", "infra/docker/Dockerfile"], "dockerfile"),
])
def test_checkov_finds_nothing_and_every_skip_has_a_reason(target, framework, tmp_path):
    if target == ["-d", "PODS"]:
        _pods_of_the_manifests(tmp_path)
        target = ["-d", str(tmp_path)]
    report = _checkov(target, framework)
    if "results" not in report:  # checkov found nothing of this framework to check
        pytest.fail(f"checkov scanned nothing in {target}: {report}")
    results = report["results"]
    failed = [(c["check_id"], c["resource"], c["file_path"]) for c in results.get("failed_checks", [])]
    assert not failed, failed
    for check in results.get("skipped_checks", []):
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason.strip()) > 15, f"{check['check_id']} on {check['resource']} is skipped without a reason"
