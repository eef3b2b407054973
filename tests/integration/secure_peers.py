"""Real protocol peers that enforce what the embedded engines cannot: Kafka TLS/mutual TLS/SASL and
Elasticsearch authentication over TLS (docs/deployment.md, "What was exercised").

- :class:`KafkaSecurePeer`: a Kafka listener in front of a plaintext broker. It terminates TLS (optionally
  requiring a client certificate), answers SaslHandshake (API 17, v0–v1) and SaslAuthenticate (API 36, v0–v2)
  itself for PLAIN (RFC 4616) and SCRAM-SHA-256/512 (RFC 5802/7677, server side from ``scramp``), and only then
  relays bytes to the broker. ApiVersions before authentication is relayed, as a broker answers it before SASL.
  The broker must advertise the peer's address (Tansu: ``--advertised-listener-url``), so Metadata and
  FindCoordinator answers send the clients back through the peer; no response needs rewriting.
- :class:`EsAuthPeer`: an HTTPS reverse proxy in front of noida-db's Elasticsearch API that enforces basic auth
  and API keys like Elasticsearch 8 security: 401 ``security_exception`` without valid credentials, 403 for a
  read-only principal's writes.

Test support only: the product never imports this module.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import json
import ssl
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import scramp

SASL_HANDSHAKE, SASL_AUTHENTICATE, API_VERSIONS = 17, 36, 18
UNSUPPORTED_SASL_MECHANISM, SASL_AUTHENTICATION_FAILED, ILLEGAL_SASL_STATE = 33, 58, 34


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def _put_uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


@dataclass
class _Request:
    api_key: int
    version: int
    correlation_id: int
    body: bytes


def _parse(frame: bytes, flexible: bool) -> _Request:
    api_key, version, correlation_id = struct.unpack(">hhi", frame[:8])
    (client_len,) = struct.unpack(">h", frame[8:10])
    pos = 10 + max(client_len, 0)
    if flexible:  # request header v2: tagged fields after the client id
        count, pos = _uvarint(frame, pos)
        for _ in range(count):
            _, pos = _uvarint(frame, pos)
            size, pos = _uvarint(frame, pos)
            pos += size
    return _Request(api_key, version, correlation_id, frame[pos:])


@dataclass
class KafkaSecurePeer:
    """TLS and/or SASL in front of the plaintext broker at ``upstream`` (host, port).

    ``users``: mechanism -> {user: password}; empty: no SASL. ``server_context``: TLS server context (with
    ``verify_mode = CERT_REQUIRED`` for mutual TLS); None: plaintext. ``start()`` binds ``port`` (0: a free one).
    ``failures`` counts refused authentications, ``authenticated`` the accepted (user, mechanism) pairs.
    """

    upstream: tuple[str, int]
    users: dict[str, dict[str, str]] = field(default_factory=dict)
    server_context: ssl.SSLContext | None = None
    port: int = 0
    host: str = "127.0.0.1"
    failures: int = 0
    authenticated: list[tuple[str, str]] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _server: Any = field(default=None, repr=False)

    def start(self) -> KafkaSecurePeer:
        """Listen in a helper thread; returns self once the socket is bound."""
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(
                asyncio.start_server(self._serve, self.host, self.port, ssl=self.server_context))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, name="kafka-secure-peer", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("Kafka secure peer did not start")
        return self

    def stop(self) -> None:
        """Stop listening (open connections are dropped with the loop)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    @property
    def bootstrap(self) -> str:
        """host:port of the secured listener."""
        return f"{self.host}:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        try:
            if self.users and not await self._authenticate(reader, writer, up_reader, up_writer):
                return
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            for w in (writer, up_writer):
                with contextlib.suppress(Exception):
                    w.close()

    async def _authenticate(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> bool:
        mechanism: str | None = None
        scram_server: Any = None
        user = ""
        while True:
            frame = await _read_frame(reader)
            api_key, version = struct.unpack(">hh", frame[:4])
            if api_key == API_VERSIONS:  # answered by the broker, before SASL as Kafka does
                up_writer.write(struct.pack(">i", len(frame)) + frame)
                await up_writer.drain()
                answer = await _read_frame(up_reader)
                writer.write(struct.pack(">i", len(answer)) + answer)
                await writer.drain()
                continue
            if api_key == SASL_HANDSHAKE:
                req = _parse(frame, flexible=False)
                (size,) = struct.unpack(">h", req.body[:2])
                mechanism = req.body[2:2 + size].decode()
                offered = sorted(self.users)
                error = 0 if mechanism in self.users else UNSUPPORTED_SASL_MECHANISM
                body = struct.pack(">hi", error, len(offered)) + b"".join(
                    struct.pack(">h", len(m)) + m.encode() for m in offered)
                await _answer(writer, req.correlation_id, body, flexible=False)
                if error:
                    return False
                if mechanism.startswith("SCRAM-"):
                    table = self.users[mechanism]
                    scram = scramp.ScramMechanism(mechanism)
                    infos = {u: scram.make_auth_info(p, iteration_count=4096) for u, p in table.items()}
                    scram_server = scram.make_server(infos.__getitem__)
                continue
            if api_key == SASL_AUTHENTICATE and mechanism is not None:
                flexible = version >= 2
                req = _parse(frame, flexible=flexible)
                if flexible:
                    size, pos = _uvarint(req.body, 0)
                    token = req.body[pos:pos + size - 1]
                else:
                    (size,) = struct.unpack(">i", req.body[:4])
                    token = req.body[4:4 + size]
                ok, reply, done, user = self._step(mechanism, scram_server, token, user)
                await _answer(writer, req.correlation_id,
                              _auth_body(version, 0 if ok else SASL_AUTHENTICATION_FAILED,
                                         None if ok else "Authentication failed: invalid credentials", reply),
                              flexible=flexible)
                if not ok:
                    self.failures += 1
                    return False
                if done:
                    self.authenticated.append((user, mechanism))
                    return True
                continue
            return False  # any other request before authentication: the connection is closed, as Kafka does

    def _step(self, mechanism: str, scram_server: Any, token: bytes, user: str) -> tuple[bool, bytes, bool, str]:
        """(accepted, reply bytes, authentication complete, user) for one SASL token."""
        if mechanism == "PLAIN":
            parts = token.split(b"\0")
            if len(parts) != 3:
                return False, b"", True, user
            name, password = parts[1].decode(), parts[2].decode()
            return self.users["PLAIN"].get(name) == password, b"", True, name
        try:
            if scram_server.stage is None:
                first = token.decode()
                name = first.split("n=", 1)[1].split(",", 1)[0] if "n=" in first else ""
                if name not in self.users[mechanism]:
                    return False, b"", True, name
                scram_server.set_client_first(first)
                return True, scram_server.get_server_first().encode(), False, name
            scram_server.set_client_final(token.decode())
            return True, scram_server.get_server_final().encode(), True, user
        except scramp.ScramException:
            return False, b"", True, user


def _auth_body(version: int, error: int, message: str | None, reply: bytes) -> bytes:
    if version >= 2:
        msg = b"\0" if message is None else _put_uvarint(len(message) + 1) + message.encode()
        return (struct.pack(">h", error) + msg + _put_uvarint(len(reply) + 1) + reply + struct.pack(">q", 0)
                + b"\0")
    msg = struct.pack(">h", -1) if message is None else struct.pack(">h", len(message)) + message.encode()
    body = struct.pack(">h", error) + msg + struct.pack(">i", len(reply)) + reply
    return body + (struct.pack(">q", 0) if version >= 1 else b"")


async def _answer(writer: asyncio.StreamWriter, correlation_id: int, body: bytes, flexible: bool) -> None:
    header = struct.pack(">i", correlation_id) + (b"\0" if flexible else b"")
    payload = header + body
    writer.write(struct.pack(">i", len(payload)) + payload)
    await writer.drain()


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    (size,) = struct.unpack(">i", await reader.readexactly(4))
    return await reader.readexactly(size)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@dataclass
class EsAuthPeer:
    """HTTPS (or HTTP) proxy in front of the Elasticsearch API at ``upstream`` (host, port) that enforces
    Elasticsearch 8 style authentication.

    ``users``: user -> (password, role) and ``api_keys``: id -> (key, role), role ``all`` or ``read`` (``read``
    may only GET, HEAD and search/count/mget). Without valid credentials: 401 ``security_exception``; a
    ``read`` principal's write: 403. ``refused`` counts 401/403 answers.
    """

    upstream: tuple[str, int]
    users: dict[str, tuple[str, str]] = field(default_factory=dict)
    api_keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    server_context: ssl.SSLContext | None = None
    port: int = 0
    refused: int = 0
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)

    def start(self) -> EsAuthPeer:
        """Serve in a helper thread; returns self once bound."""
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                role = peer._role(self.headers.get("Authorization", ""))
                if role is None:
                    peer.refused += 1
                    self._reply(401, {"error": {"type": "security_exception", "reason": "unable to authenticate "
                                                "user for REST request [" + self.path + "]"}, "status": 401},
                                {"WWW-Authenticate": 'Basic realm="security", charset="UTF-8", ApiKey'})
                    return
                reading = self.command in ("GET", "HEAD") or any(
                    p in self.path for p in ("/_search", "/_msearch", "/_count", "/_mget", "/_field_caps"))
                if role == "read" and not reading:
                    peer.refused += 1
                    self._reply(403, {"error": {"type": "security_exception", "reason": "action [" + self.command
                                                + " " + self.path + "] is unauthorized"}, "status": 403})
                    return
                conn = http.client.HTTPConnection(*peer.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("authorization", "host", "connection", "content-length")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            def _reply(self, code: int, doc: dict[str, Any], extra: dict[str, str] | None = None) -> None:
                data = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Elastic-Product", "Elasticsearch")
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        if self.server_context is not None:
            server.socket = self.server_context.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, name="es-auth-peer", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def url(self) -> str:
        """The peer's URL (https when it has a TLS context)."""
        return f"{'https' if self.server_context else 'http'}://127.0.0.1:{self.port}"

    def _role(self, header: str) -> str | None:
        scheme, _, value = header.partition(" ")
        try:
            decoded = base64.b64decode(value.strip()).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        name, _, secret = decoded.partition(":")
        if scheme.lower() == "basic" and name in self.users and self.users[name][0] == secret:
            return self.users[name][1]
        if scheme.lower() == "apikey" and name in self.api_keys and self.api_keys[name][0] == secret:
            return self.api_keys[name][1]
        return None


@contextlib.contextmanager
def running(*peers: Any) -> Iterator[None]:
    """Start every peer, stop them all at the end."""
    started = []
    try:
        for p in peers:
            started.append(p.start())
        yield
    finally:
        for p in reversed(started):
            p.stop()


@dataclass
class Pki:
    """A throw-away CA (``trustme``) with a server certificate for 127.0.0.1/localhost and a client certificate,
    written as PEM files under ``folder``: ``ca``, ``client_cert``, ``client_key`` paths; ``other_ca``: a CA
    that signed nothing here (for "not trusted" cases)."""

    folder: Any
    ca: str = ""
    other_ca: str = ""
    client_cert: str = ""
    client_key: str = ""
    server_fingerprint: str = ""
    _ca: Any = field(default=None, repr=False)
    _server: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        import hashlib

        import trustme
        from cryptography import x509

        self._ca = trustme.CA()
        self._server = self._ca.issue_cert("127.0.0.1", "localhost")
        client = self._ca.issue_cert("flowwatch-client@example.com")
        self.ca = str(self.folder / "ca.pem")
        self._ca.cert_pem.write_to_path(self.ca)
        self.other_ca = str(self.folder / "other-ca.pem")
        trustme.CA().cert_pem.write_to_path(self.other_ca)
        self.client_cert = str(self.folder / "client.pem")
        self.client_key = str(self.folder / "client.key")
        client.cert_chain_pems[0].write_to_path(self.client_cert)
        client.private_key_pem.write_to_path(self.client_key)
        der = x509.load_pem_x509_certificate(self._server.cert_chain_pems[0].bytes()).public_bytes(
            __import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.DER)
        self.server_fingerprint = ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())

    def server_context(self, require_client_cert: bool = False) -> ssl.SSLContext:
        """TLS server context with the server certificate; ``require_client_cert``: mutual TLS."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._server.configure_cert(context)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            self._ca.configure_trust(context)
        return context


def start_tansu_behind(work_dir: Any, advertised_port: int) -> Any:
    """Start Tansu (memory storage) on a free port, advertising ``127.0.0.1:advertised_port`` (the peer in front
    of it) in Metadata and FindCoordinator answers. Returns the ``flowwatch_tools.engines.Engine``."""
    from flowwatch_tools.engines import Engine, EngineError, _spawn, free_port, tansu_binary, wait_ready

    port = free_port()
    work_dir.mkdir(parents=True, exist_ok=True)
    cmd = [str(tansu_binary()), "broker", "--listener-url", f"tcp://127.0.0.1:{port}",
           "--advertised-listener-url", f"tcp://127.0.0.1:{advertised_port}", "--storage-engine", "memory://tansu/"]
    popen = _spawn(cmd, work_dir / "tansu.log", cwd=work_dir)
    engine = Engine("tansu", popen.pid, work_dir / "tansu.log", port, None, popen)
    try:
        wait_ready(engine, 30)
    except EngineError:
        engine.stop(grace=5)
        raise
    return engine
