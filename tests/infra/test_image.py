"""The container image and the Kubernetes manifests agree with the project: infra/docker/Dockerfile installs exactly
pyproject.toml's dependencies before the code and runs as a non-root user, and the manifests in infra/k8s parse,
call the jobs with flags the jobs accept, put GPU workers where the GPUs are and run every container non-root.

Static checks only: nothing is built, pulled or applied (no docker daemon or Kubernetes cluster needed)."""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")  # PyYAML comes with ray[default]

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "infra" / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
K8S = ROOT / "infra" / "k8s"

CLUSTER_NAME = "space-ray"  # the RayCluster (terraform's Helm release or raycluster.yaml); head svc space-ray-head-svc
SERVICE_ACCOUNT = "space-ray"
PLACEHOLDERS = {"BUCKET": "example-bucket", "RAY_IMAGE": "space:0123abc", "CAMPAIGN": "spring"}
JOB_FLAGS = {  # job -> what its RayJob must ask for on a GPU cluster
    "preprocess": lambda a: a.device in ("auto", "cuda"),
    "render": lambda a: a.device in ("auto", "cuda"),
    "train": lambda a: a.gpu and a.num_workers >= 1,
}


# ---------------------------------------------------------------------------------------------------- Dockerfile


def _instructions(text: str) -> list[tuple[str, str, str]]:
    """(KEYWORD, arguments joined into one line, raw text) per Dockerfile instruction; comments and continuations
    handled the way Docker reads them."""
    out: list[tuple[str, str, str]] = []
    logical: list[str] = []
    raw: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if logical and stripped.startswith("#"):  # comment lines inside a continued instruction are dropped
            continue
        raw.append(line)
        if stripped.endswith("\\"):
            logical.append(stripped[:-1])
            continue
        logical.append(stripped)
        joined = " ".join(part.strip() for part in logical if part.strip())
        keyword, _, args = joined.partition(" ")
        out.append((keyword.upper(), args.strip(), "\n".join(raw)))
        logical, raw = [], []
    return out


@cache
def dockerfile() -> list[tuple[str, str, str]]:
    return _instructions(DOCKERFILE.read_text())


def _pip_installs(run_args: str) -> list[list[str]]:
    """The arguments (after `pip install`) of every pip install command in one RUN's shell line."""
    words = shlex.split(run_args, posix=True)
    commands: list[list[str]] = [[]]
    for w in words:
        if w in ("&&", ";", "||", "|"):
            commands.append([])
        else:
            commands[-1].append(w)
    found = []
    for cmd in commands:
        for i in range(len(cmd) - 1):
            if cmd[i].endswith("pip") and cmd[i + 1] == "install":
                found.append(cmd[i + 2:])
            elif cmd[i] == "-m" and cmd[i + 1] == "pip" and i + 2 < len(cmd) and cmd[i + 2] == "install":
                found.append(cmd[i + 3:])
    return found


def _requirements(pip_args: list[str]) -> list[str]:
    return [a for a in pip_args if not a.startswith("-")]


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0].lower().replace("_", "-")


@cache
def project_dependencies() -> tuple[str, ...]:
    return tuple(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])


def _dependency_layer() -> tuple[int, list[str], str]:
    """(instruction index, requirement strings, raw text) of the pip install that installs the project's
    dependencies: the one whose requirements name the most of pyproject's packages."""
    wanted = {_name(r) for r in project_dependencies()}
    best = None
    for index, (keyword, args, raw) in enumerate(dockerfile()):
        if keyword != "RUN":
            continue
        for pip_args in _pip_installs(args):
            reqs = _requirements(pip_args)
            score = len(wanted & {_name(r) for r in reqs})
            if score and (best is None or score > best[0]):
                best = (score, index, reqs, raw)
    assert best is not None, "no RUN in infra/docker/Dockerfile pip-installs pyproject.toml's dependencies"
    return best[1], best[2], best[3]


def test_dockerfile_installs_exactly_the_pyproject_dependencies():
    _, installed, raw = _dependency_layer()
    declared = list(project_dependencies())
    missing = [r for r in declared if r not in installed]
    extra = [r for r in installed if r not in declared]
    duplicated = sorted({r for r in installed if installed.count(r) > 1})
    assert not (missing or extra or duplicated), (
        "infra/docker/Dockerfile's dependency layer differs from pyproject.toml [project] dependencies:\n"
        f"  in pyproject, not in the Dockerfile (or spelled differently): {missing}\n"
        f"  in the Dockerfile, not in pyproject: {extra}\n"
        f"  installed twice: {duplicated}")
    # one quoted requirement per line, so the layer stays readable and diffs one line per dependency
    for requirement in declared:
        assert re.search(rf'^\s*"{re.escape(requirement)}"\s*\\?\s*$', raw, re.M), (
            f'"{requirement}" is not on a line of its own, double-quoted, in the dependency RUN')


def test_dependencies_come_before_the_code_and_the_package_installs_without_deps():
    instructions = dockerfile()
    dep_index, _, _ = _dependency_layer()
    copies = [i for i, (k, _, _) in enumerate(instructions) if k in ("COPY", "ADD")]
    assert copies, "the Dockerfile copies no project files"
    early = [instructions[i][1] for i in copies if i < dep_index]
    assert not early, f"files are copied before the dependency layer, so every code change reinstalls it: {early}"

    copied = " ".join(instructions[i][1] for i in copies)
    for needed in ("pyproject.toml", "space", "pipelines", "jobs"):
        assert re.search(rf"(^|\s|/){needed}/?(\s|$)", copied) or " . " in f" {copied} ", (
            f"{needed} is not copied into the image")
    assert all(k != "ADD" for k, _, _ in instructions), "use COPY (ADD fetches URLs and unpacks archives)"
    assert "../" not in copied and "shared" not in copied, "the image takes nothing from outside the repository"

    last_copy = max(copies)
    self_installs = [
        (i, pip_args)
        for i, (k, args, _) in enumerate(instructions) if k == "RUN"
        for pip_args in _pip_installs(args) if "." in _requirements(pip_args)]
    assert self_installs, "the Dockerfile never runs `pip install --no-deps .` for the package itself"
    for i, pip_args in self_installs:
        assert i > last_copy, "the package is pip-installed before all of the project is copied"
        assert "--no-deps" in pip_args, "`pip install .` must use --no-deps: the dependency layer has them all"


def test_image_runs_as_the_non_root_ray_user_with_a_pinned_cuda_base():
    instructions = dockerfile()
    users = [args for k, args, _ in instructions if k == "USER"]
    assert users, "no USER: the image would run as root"
    assert users[-1].split(":")[0] not in ("root", "0"), f"the image runs as {users[-1]}"
    assert users[-1] == "ray"
    runs = " ".join(args for k, args, _ in instructions if k == "RUN")
    assert re.search(r"useradd\b[^&;]*--uid 1000\b[^&;]*\bray\b", runs), "user ray must be created with uid 1000"
    assert ("WORKDIR", "/home/ray/space") in [(k, a) for k, a, _ in instructions]

    bases = [args.split()[0] for k, args, _ in instructions if k == "FROM"]
    assert len(bases) == 1
    image, _, tag = bases[0].rpartition(":")
    assert image and tag and tag != "latest" and "@" not in bases[0], f"base image not pinned by tag: {bases[0]}"
    assert tag.startswith("12.8") and "ubuntu" in tag, f"torch 2.8.0's wheels are CUDA 12.8 builds, base is {tag}"
    first = image.split("/")[0]
    assert "." not in first and ":" not in first, "name the base image without a registry host"

    env = " ".join(args for k, args, _ in instructions if k == "ENV")
    for var in ("HF_HOME", "TORCH_HOME", "SPACE_CACHE"):
        assert re.search(rf"\b{var}=/home/ray/", env), f"{var} must point under /home/ray"
    assert "PYTHONUNBUFFERED=1" in env
    assert any(k == "HEALTHCHECK" for k, _, _ in instructions)


SECRET_PATTERNS = [
    (r"AWS_SECRET", "an AWS secret key variable"),
    (r"AWS_ACCESS_KEY_ID\s*=", "an AWS access key id value"),
    (r"AWS_SESSION_TOKEN", "an AWS session token"),
    (r"\bAKIA[0-9A-Z]{16}\b", "an AWS access key id"),
    (r"(?i)\b(token|password|secret)\s*[=:]\s*['\"]?[A-Za-z0-9/+_\-]{12,}", "a token or password value"),
    (r"-----BEGIN [A-Z ]*PRIVATE KEY-----", "a private key"),
    (r"(?i)hf_[A-Za-z0-9]{20,}", "a Hugging Face token"),
]


def test_nothing_secret_in_the_image_or_the_manifests():
    for keyword, args, _ in dockerfile():  # build args and image env end up readable in the image's history
        if keyword in ("ARG", "ENV"):
            names = re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)(?==|\s|$)", args)
            risky = [n for n in names if re.search(r"(?i)SECRET|PASSWORD|PASSWD|TOKEN|API_KEY|ACCESS_KEY", n)]
            assert not risky, f"infra/docker/Dockerfile {keyword} names a secret: {risky}"
    files = [DOCKERFILE, DOCKERIGNORE, *sorted(K8S.glob("*.yaml"))]
    for path in files:
        text = path.read_text()
        for pattern, what in SECRET_PATTERNS:
            match = re.search(pattern, text)
            assert not match, f"{path.relative_to(ROOT)} has {what}: {match.group(0)!r}"


def test_dockerignore_keeps_outputs_environments_and_state_out_of_the_build_context():
    entries = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()
               if line.strip() and not line.lstrip().startswith("#")}
    for needed in (".git", ".venv", "out", "**/__pycache__", "infra"):
        assert needed in entries, f".dockerignore must exclude {needed}"
    for copied in ("space", "pipelines", "jobs", "pyproject.toml", "README.md"):
        assert copied not in entries, f".dockerignore excludes {copied}, which the Dockerfile copies"


# ---------------------------------------------------------------------------------------------------- Kubernetes


def _fill(text: str) -> str:
    def one(match: re.Match) -> str:
        assert match.group(1) in PLACEHOLDERS, f"unknown placeholder ${{{match.group(1)}}}"
        return PLACEHOLDERS[match.group(1)]

    return re.sub(r"\$\{(\w+)\}", one, text)


@cache
def manifests() -> tuple[tuple[str, dict], ...]:
    docs = []
    for path in sorted(K8S.glob("*.y*ml")):
        for doc in yaml.safe_load_all(_fill(path.read_text())):
            if doc is not None:
                docs.append((path.name, doc))
    return tuple(docs)


def _of_kind(kind: str) -> list[tuple[str, dict]]:
    return [(name, doc) for name, doc in manifests() if doc.get("kind") == kind]


@cache
def raycluster() -> dict:
    clusters = _of_kind("RayCluster")
    assert len(clusters) == 1, "infra/k8s has one RayCluster"
    return clusters[0][1]


def _pod_templates() -> list[tuple[str, dict]]:
    """(where, pod spec) of every pod the manifests make: Ray head, worker groups, RayJob submitters."""
    cluster = raycluster()["spec"]
    pods = [("raycluster head", cluster["headGroupSpec"]["template"]["spec"])]
    pods += [(f"raycluster worker group {g['groupName']}", g["template"]["spec"]) for g in cluster["workerGroupSpecs"]]
    pods += [(f"{name} submitter", doc["spec"]["submitterPodTemplate"]["spec"]) for name, doc in _of_kind("RayJob")]
    return pods


@cache
def _job_module(script: Path):
    """jobs/<name>.py loaded by path (the jobs are scripts, not a package); its parse_args is what we call."""
    spec = importlib.util.spec_from_file_location(f"_space_job_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_manifest_parses_and_names_its_placeholders():
    files = sorted(K8S.glob("*.y*ml"))
    assert {f.name for f in files} >= {"raycluster.yaml", "rayjob-preprocess.yaml", "rayjob-train.yaml",
                                       "rayjob-render.yaml"}
    for path in files:
        text = path.read_text()
        raw = [d for d in yaml.safe_load_all(text) if d is not None]  # valid YAML before envsubst fills it, too
        assert raw and all(isinstance(d, dict) and d.get("apiVersion") and d.get("kind") for d in raw), path.name
        for doc in raw:
            assert doc["metadata"].get("namespace") == "space", f"{path.name}: {doc['kind']} outside namespace space"
        body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        used = set(re.findall(r"\$\{(\w+)\}", body))
        if used:  # the usage line in the header fills every placeholder the manifest uses
            documented = re.search(r"envsubst '([^']*)'", text)
            assert documented, f"{path.name} uses {sorted(used)} but shows no envsubst line"
            assert set(re.findall(r"\$\{(\w+)\}", documented.group(1))) == used, (
                f"{path.name}: its envsubst line fills {documented.group(1)}, the manifest uses {sorted(used)}")


def test_rayjobs_share_the_cluster_and_call_the_jobs_with_flags_they_accept():
    workdir = next(args for k, args, _ in dockerfile() if k == "WORKDIR").rstrip("/") + "/"
    gpu_group = next(g for g in raycluster()["spec"]["workerGroupSpecs"] if g["groupName"] == "gpu")
    jobs_seen = set()
    for name, doc in _of_kind("RayJob"):
        spec = doc["spec"]
        assert doc["apiVersion"] == "ray.io/v1"
        assert spec["clusterSelector"] == {"ray.io/cluster": CLUSTER_NAME}, f"{name} must select the shared cluster"
        assert spec["submissionMode"] == "K8sJobMode"
        assert spec["shutdownAfterJobFinishes"] is False, f"{name} would delete the shared cluster"
        # KubeRay rejects ttlSecondsAfterFinished > 0 together with shutdownAfterJobFinishes: false
        assert spec.get("ttlSecondsAfterFinished", 0) == 0, f"{name}: KubeRay refuses this TTL without shutdown"
        assert "rayClusterSpec" not in spec

        argv = shlex.split(spec["entrypoint"])
        assert argv[0] in ("python", "python3"), f"{name}: entrypoint should run python, not {argv[0]}"
        script = argv[1]
        if script.startswith(workdir):  # the image's checkout -> this checkout
            script = script[len(workdir):]
        path = ROOT / script
        assert path.parent == ROOT / "jobs" and path.is_file(), f"{name}: {argv[1]} is not one of jobs/*.py"
        job = path.stem
        jobs_seen.add(job)
        assert job in name, f"{name} runs jobs/{job}.py"

        try:
            args = _job_module(path).parse_args(argv[2:])
        except SystemExit as exc:
            pytest.fail(f"{name}: jobs/{job}.py rejects its arguments {argv[2:]} (exit {exc.code})")
        assert JOB_FLAGS[job](args), f"{name}: jobs/{job}.py is not asked to use the GPUs ({vars(args)})"
        for option in ("corpus", "lake", "checkpoints", "requests", "out"):
            value = getattr(args, option, None)
            if value is not None:  # the driver runs on the head pod: local paths would land in its container
                assert str(value).startswith("s3://"), f"{name}: --{option} {value} is not an s3:// URI"
        if job == "train":
            assert args.num_workers <= gpu_group["maxReplicas"], (
                f"{name}: {args.num_workers} GPU workers, but the gpu group has at most {gpu_group['maxReplicas']}")
    assert jobs_seen == {"preprocess", "train", "render"}


def test_submitters_use_the_image_the_service_account_and_bounded_resources():
    for name, doc in _of_kind("RayJob"):
        pod = doc["spec"]["submitterPodTemplate"]["spec"]
        assert pod.get("serviceAccountName") == SERVICE_ACCOUNT
        assert pod.get("restartPolicy") == "Never"
        (container,) = pod["containers"]
        assert container["name"] == "ray-job-submitter"  # the name KubeRay fills the submit command into
        assert container["image"] == PLACEHOLDERS["RAY_IMAGE"], f"{name}: the submitter runs the cluster's image"
        assert "command" not in container, f"{name}: KubeRay writes the submit command itself"
        _assert_bounded(f"{name} submitter", container)


def _assert_bounded(where: str, container: dict) -> None:
    resources = container.get("resources") or {}
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    assert {"cpu", "memory"} <= set(limits), f"{where}: cpu and memory limits are required"
    assert requests == limits, f"{where}: requests must equal limits (Ray sizes itself from them)"


def test_the_cluster_has_a_private_head_and_gpu_workers_where_the_gpus_are():
    cluster = raycluster()
    assert cluster["metadata"]["name"] == CLUSTER_NAME
    ray_pin = next(r for r in project_dependencies() if _name(r) == "ray")
    assert cluster["spec"]["rayVersion"] == ray_pin.split("==")[1], "rayVersion differs from pyproject's ray"

    head = cluster["spec"]["headGroupSpec"]
    assert head.get("serviceType", "ClusterIP") == "ClusterIP", "the head service must not be exposed outside"
    assert head.get("serviceType") != "LoadBalancer"
    assert str(head["rayStartParams"].get("num-cpus")) == "0", "no tasks on the head: it runs the drivers"

    groups = {g["groupName"]: g for g in cluster["spec"]["workerGroupSpecs"]}
    assert set(groups) == {"gpu", "cpu"}
    gpu = groups["gpu"]["template"]["spec"]
    (gpu_container,) = gpu["containers"]
    for side in ("requests", "limits"):
        assert int(gpu_container["resources"][side].get("nvidia.com/gpu", 0)) >= 1, f"gpu group {side} no GPU"
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in (
        gpu.get("tolerations") or []), "the gpu group must tolerate the GPU nodes' taint nvidia.com/gpu=true:NoSchedule"
    assert gpu.get("nodeSelector") == {"space.io/pool": "gpu"}

    cpu = groups["cpu"]["template"]["spec"]
    assert cpu.get("nodeSelector") == {"space.io/pool": "cpu"}
    assert not any("nvidia.com/gpu" in (c.get("resources") or {}).get("limits", {}) for c in cpu["containers"])
    assert not any(t.get("key") == "nvidia.com/gpu" for t in cpu.get("tolerations") or [])

    for where, pod in [(w, p) for w, p in _pod_templates() if w.startswith("raycluster")]:
        assert pod.get("serviceAccountName") == SERVICE_ACCOUNT, f"{where}: service account"
        shm = [v for v in pod.get("volumes", []) if (v.get("emptyDir") or {}).get("medium") == "Memory"]
        assert shm, f"{where}: no memory-backed emptyDir for /dev/shm"
        for container in pod["containers"]:
            assert container["image"] == PLACEHOLDERS["RAY_IMAGE"]
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert mounts.get("/dev/shm") in {v["name"] for v in shm}, f"{where}: /dev/shm is not the Memory emptyDir"
            _assert_bounded(where, container)


def test_every_container_runs_non_root_without_privileges():
    uid = 1000  # the image's ray user (test_image_runs_as_the_non_root_ray_user_with_a_pinned_cuda_base)
    cache_dirs = [re.search(rf"\b{v}=(\S+)", " ".join(a for k, a, _ in dockerfile() if k == "ENV")).group(1)
                  for v in ("HF_HOME", "TORCH_HOME", "SPACE_CACHE")]
    for where, pod in _pod_templates():
        pod_ctx = pod.get("securityContext") or {}
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC"), where
        for container in pod["containers"] + pod.get("initContainers", []):
            ctx = {**pod_ctx, **(container.get("securityContext") or {})}
            label = f"{where}, container {container['name']}"
            assert ctx.get("runAsNonRoot") is True, f"{label}: runAsNonRoot is not set"
            assert ctx.get("runAsUser", uid) == uid, f"{label}: runs as uid {ctx.get('runAsUser')}, image user is {uid}"
            assert ctx.get("allowPrivilegeEscalation") is False, f"{label}: privilege escalation allowed"
            assert not ctx.get("privileged"), f"{label}: privileged"
            assert "ALL" in ((ctx.get("capabilities") or {}).get("drop") or []), f"{label}: capabilities not dropped"
            assert not (ctx.get("capabilities") or {}).get("add"), f"{label}: adds capabilities"
            if ctx.get("readOnlyRootFilesystem"):  # then what the container writes needs a volume: Ray's session
                # dir and spilling in /tmp, and (Ray pods, which load models) the caches the image's ENV names
                mounted = [m["mountPath"].rstrip("/") + "/" for m in container.get("volumeMounts", [])]
                for path in ["/tmp", *(cache_dirs if where.startswith("raycluster") else [])]:
                    assert any((path.rstrip("/") + "/").startswith(m) for m in mounted), (
                        f"{label}: read-only root filesystem but nothing writable mounted at {path}")

    autoscaler = (raycluster()["spec"].get("autoscalerOptions") or {}).get("securityContext")
    if raycluster()["spec"].get("enableInTreeAutoscaling"):
        assert autoscaler and autoscaler.get("runAsNonRoot") is True and autoscaler.get(
            "allowPrivilegeEscalation") is False, "the autoscaler sidecar must run non-root too"


def test_network_policy_lets_the_submitters_reach_the_dashboard():
    policies = {doc["metadata"]["name"]: doc["spec"] for _, doc in _of_kind("NetworkPolicy")}
    if not policies:
        pytest.skip("no NetworkPolicy in infra/k8s")
    ray_policy = next(p for p in policies.values()
                      if p["podSelector"].get("matchLabels") == {"ray.io/cluster": CLUSTER_NAME})
    allowed_components = set()
    for rule in ray_policy.get("ingress", []):
        ports = {p.get("port") for p in rule.get("ports", [])}
        for peer in rule.get("from", []):
            selector = peer.get("podSelector") or {}
            for expr in selector.get("matchExpressions", []):
                if expr["key"] == "app.kubernetes.io/component" and expr["operator"] == "In" and (
                        not ports or 8265 in ports):
                    allowed_components |= set(expr["values"])
    for name, doc in _of_kind("RayJob"):
        labels = doc["spec"]["submitterPodTemplate"]["metadata"]["labels"]
        assert labels.get("app.kubernetes.io/component") in allowed_components, (
            f"{name}: the NetworkPolicy does not let its submitter reach the dashboard (8265)")
