"""Real registries for the integration tests: Debian's `docker-registry` on loopback.

`run_registry` starts one on a free port with no auth, htpasswd basic auth, or token auth (the
Docker Hub flow) backed by `TokenServer`, a small JWT issuer signing with a throwaway key.
`FaultProxy` sits in front of a registry to inject 429s, tampered or truncated blobs, slowness
and cross-host redirects, and counts the bytes it serves. Images are pushed with `skopeo copy`.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import gzip
import hashlib
import http.client
import http.server
import json
import shutil
import socket
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

REGISTRY_BINARY = "docker-registry"
USERNAME = "tester"
PASSWORD = "correct horse battery staple"
SERVICE = "basewatch-test-registry"
ISSUER = "basewatch-test-issuer"
# What `docker login` would have stored as the identity token of USERNAME (OAuth2 refresh token).
REFRESH_TOKEN = "refresh-token-of-tester"
AuthMode = Literal["none", "htpasswd", "token"]


def missing_tools() -> list[str]:
    tools = [REGISTRY_BINARY, "skopeo", "htpasswd"]
    missing = [t for t in tools if shutil.which(t) is None]
    try:
        import cryptography  # noqa: F401
        import jwt  # noqa: F401
    except ImportError:
        missing.append("python: pyjwt, cryptography")
    return missing


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout: float = 20.0, address: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((address, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {address}:{port}")


# --- a second host: a network namespace behind a veth pair -------------------------------------


@dataclass(frozen=True)
class Namespace:
    """A network namespace reached over a veth pair: `address` is its end (not loopback, so
    basewatch speaks TLS to it unless told it is insecure), `host_address` ours."""

    name: str
    address: str
    host_address: str

    def command(self, argv: list[str]) -> list[str]:
        """`argv` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]


def namespace_unavailable() -> str:
    """Why a network namespace cannot be made here ("" when it can)."""
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is missing"
    probe = f"bwprobe{uuid.uuid4().hex[:6]}"
    made = subprocess.run(
        ["ip", "netns", "add", probe], capture_output=True, text=True, check=False
    )
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True, check=False)
    return ""


@contextlib.contextmanager
def network_namespace() -> Iterator[Namespace]:
    """A fresh namespace with loopback up and a veth link to this one (10.213.N.0/30)."""
    tag = uuid.uuid4().hex[:6]
    name, outside, inside = f"bw{tag}", f"bwh{tag}", f"bwn{tag}"
    subnet = int(tag, 16) % 250 + 1
    host_address, address = f"10.213.{subnet}.1", f"10.213.{subnet}.2"
    steps = [
        ["ip", "netns", "add", name],
        ["ip", "link", "add", outside, "type", "veth", "peer", "name", inside],
        ["ip", "link", "set", inside, "netns", name],
        ["ip", "addr", "add", f"{host_address}/30", "dev", outside],
        ["ip", "link", "set", outside, "up"],
        ["ip", "netns", "exec", name, "ip", "addr", "add", f"{address}/30", "dev", inside],
        ["ip", "netns", "exec", name, "ip", "link", "set", inside, "up"],
        ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
    ]
    try:
        for step in steps:
            subprocess.run(step, capture_output=True, text=True, check=True, timeout=30)
        yield Namespace(name, address, host_address)
    finally:
        subprocess.run(["ip", "link", "delete", outside], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)


# --- token server -------------------------------------------------------------------------------


class TokenServer:
    """Issues registry JWTs (RS256, certificate in `x5c`) to USERNAME/PASSWORD (GET, Basic
    authentication) and, as an OAuth2 token endpoint (POST), to REFRESH_TOKEN."""

    def __init__(self, workdir: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "basewatch test token issuer")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_path = workdir / "token-cert.pem"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self._x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self.requests: list[dict[str, str]] = []
        self.posts: list[dict[str, str]] = []
        self.port = free_port()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                from urllib.parse import parse_qs, urlsplit

                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                server.requests.append(query)
                auth = self.headers.get("Authorization", "")
                user = ""
                if auth.startswith("Basic "):
                    decoded = base64.b64decode(auth[6:]).decode()
                    name, _, secret = decoded.partition(":")
                    if (name, secret) != (USERNAME, PASSWORD):
                        self._send(401, {"details": "bad credentials"})
                        return
                    user = name
                token = server.issue(user, query.get("scope", ""), query.get("service", ""))
                self._send(200, {"token": token, "expires_in": 300})

            def do_POST(self) -> None:
                from urllib.parse import parse_qs

                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                server.posts.append(form)
                if not form.get("client_id"):  # required by the OAuth2 token spec
                    self._send(400, {"error": "invalid_request"})
                    return
                if (form.get("grant_type"), form.get("refresh_token")) != (
                    "refresh_token",
                    REFRESH_TOKEN,
                ):
                    self._send(401, {"error": "invalid_grant"})
                    return
                scope = form.get("scope", "")
                token = server.issue(USERNAME, scope, form.get("service", ""))
                self._send(200, {"access_token": token, "expires_in": 300, "scope": scope})

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def issue(self, user: str, scope: str, service: str) -> str:
        import jwt

        access = []
        for item in scope.split(" "):
            parts = item.split(":")
            if len(parts) == 3 and parts[0] == "repository" and user:
                access.append({"type": "repository", "name": parts[1], "actions": ["pull", "push"]})
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": user,
            "aud": service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"x5c": [self._x5c]})

    def token_for(self, scope: str) -> str:
        """A JWT for USERNAME with `scope` (say `repository:NAME:pull`), issued here without a
        request: what Harbor hands a scanner as `Bearer TOKEN`."""
        return self.issue(USERNAME, scope, SERVICE)

    @property
    def received(self) -> int:
        """Requests the token endpoint has received (GET and POST) since it started."""
        return len(self.requests) + len(self.posts)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


# --- the registry -------------------------------------------------------------------------------


@dataclass
class RunningRegistry:
    host: str  # 127.0.0.1:PORT, or the namespace's ADDRESS:PORT
    auth: AuthMode
    root: Path
    token_server: TokenServer | None = None
    namespace: Namespace | None = None

    @property
    def port(self) -> int:
        return int(self.host.rsplit(":", 1)[1])

    def creds_args(self, flag: str) -> list[str]:
        return [] if self.auth == "none" else [flag, f"{USERNAME}:{PASSWORD}"]

    def push(self, source: str, repo_tag: str, all_platforms: bool = False) -> None:
        """`skopeo copy SOURCE docker://HOST/REPO:TAG` (every platform with all_platforms)."""
        command = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false"]
        command += self.creds_args("--dest-creds")
        if all_platforms:
            command.append("--all")
        # inside a namespace, pushed over its own loopback (skopeo speaks plain HTTP there)
        target = f"127.0.0.1:{self.port}" if self.namespace is not None else self.host
        command += [source, f"docker://{target}/{repo_tag}"]
        if self.namespace is not None:
            command = self.namespace.command(command)
        result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"skopeo copy {source} failed: {result.stderr[-2000:]}")


def self_signed_tls(workdir: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1, signed by themselves (no CA trusts them)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = workdir / "tls.crt", workdir / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@contextlib.contextmanager
def run_registry(
    workdir: Path,
    auth: AuthMode = "none",
    tls: bool = False,
    namespace: Namespace | None = None,
    notify: tuple[str, str] | None = None,
    address: str = "127.0.0.1",
    access_log: bool = False,
) -> Iterator[RunningRegistry]:
    """A fresh docker-registry on `address` (storage under workdir), stopped on exit; with
    `tls`, it speaks HTTPS only, with a self-signed certificate; with `namespace`, it runs
    there, on every address of it (reached at the namespace's address); with `notify` (URL,
    bearer token), it sends its notifications (pushes, pulls) there. With `access_log`, every
    request it answers is a line of `registry.log` (`RunningRegistry.requests()`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    token_server: TokenServer | None = None
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": not access_log}},
        "storage": {
            "filesystem": {"rootdirectory": str(workdir / "storage")},
            "delete": {"enabled": True},
        },
        "http": {
            "addr": f"{'0.0.0.0' if namespace else address}:{port}",
            "secret": uuid.uuid4().hex,
        },
    }
    if auth == "htpasswd":
        htpasswd = workdir / "htpasswd"
        line = subprocess.run(
            ["htpasswd", "-Bbn", USERNAME, PASSWORD], capture_output=True, text=True, check=True
        ).stdout.strip()
        htpasswd.write_text(line + "\n")
        config["auth"] = {"htpasswd": {"realm": "basewatch-test", "path": str(htpasswd)}}
    elif auth == "token":
        token_server = TokenServer(workdir)
        config["auth"] = {
            "token": {
                "realm": token_server.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(token_server.cert_path),
            }
        }
    if notify is not None:
        url, token = notify
        config["notifications"] = {
            "endpoints": [
                {
                    "name": "basewatch",
                    "url": url,
                    "headers": {"Authorization": [f"Bearer {token}"]},
                    "timeout": "2s",
                    "threshold": 3,
                    "backoff": "1s",
                    "ignoredmediatypes": ["application/octet-stream"],
                }
            ]
        }
    if tls:
        cert_path, key_path = self_signed_tls(workdir)
        config["http"]["tls"] = {"certificate": str(cert_path), "key": str(key_path)}
    config_path = workdir / "config.yml"
    config_path.write_text(json.dumps(config))  # JSON is YAML
    log = (workdir / "registry.log").open("wb")
    command = [REGISTRY_BINARY, "serve", str(config_path)]
    if namespace is not None:
        command = namespace.command(command)
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    address = namespace.address if namespace is not None else address
    try:
        _wait_for_port(port, address=address)
        yield RunningRegistry(f"{address}:{port}", auth, workdir, token_server, namespace)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        if token_server is not None:
            token_server.close()


# --- a proxy that misbehaves on purpose ---------------------------------------------------------


@dataclass
class Faults:
    """What the proxy does to the next responses; each counter is used up as it applies."""

    statuses: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # any request
    tamper: set[str] = field(default_factory=set)  # blob digests whose content is altered
    drop_after: dict[str, int] = field(default_factory=dict)  # digest -> bytes before cutting
    drop_times: int = 1
    delay: float = 0.0  # seconds before answering blob requests
    list_delay: float = 0.0  # seconds before answering a tags/list request
    redirect_blobs: bool = False  # send blob GETs to another host (localhost vs 127.0.0.1)
    upstream_auth: str = ""  # what the storage side uses to fetch from the registry


class FaultProxy:
    """An HTTP proxy in front of a registry; records requests and counts bytes sent."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults = Faults()
        self.requests: list[tuple[str, str, str]] = []  # (method, path, authorization)
        self.ranges: list[tuple[str, str]] = []  # (path, Range header) of every request
        self.bytes_sent = 0
        self.connections = 0  # TCP connections accepted (a TLS probe is one too)
        self.lists_in_flight = 0  # tags/list requests being answered now
        self.most_lists_in_flight = 0  # the most at once since the last reset
        self.port = free_port()
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:  # once per connection, however many requests it carries
                super().setup()
                with proxy._lock:
                    proxy.connections += 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy.handle(self, "GET")

            def do_HEAD(self) -> None:
                proxy.handle(self, "HEAD")

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def reset(self) -> None:
        with self._lock:
            self.faults = Faults()
            self.ranges = []
            self.requests.clear()
            self.bytes_sent = 0
            self.connections = 0
            self.most_lists_in_flight = 0

    def _count(self, n: int) -> None:
        with self._lock:
            self.bytes_sent += n

    def handle(self, handler: http.server.BaseHTTPRequestHandler, method: str) -> None:
        path = handler.path
        auth = handler.headers.get("Authorization", "")
        with self._lock:
            self.requests.append((method, path, auth))
            self.ranges.append((path, handler.headers.get("Range", "")))
            status_fault = self.faults.statuses.pop(0) if self.faults.statuses else None
        faults = self.faults
        if status_fault is not None:
            status, extra = status_fault
            handler.send_response(status)
            for key, value in extra.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        digest = path.rsplit("/", 1)[-1] if "/blobs/" in path else ""
        if path.startswith("/_storage/"):
            path = path[len("/_storage") :]
            auth = faults.upstream_auth
        elif digest and method == "GET" and faults.redirect_blobs:
            handler.send_response(307)
            handler.send_header("Location", f"http://localhost:{self.port}/_storage{path}")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        if digest and faults.delay:
            time.sleep(faults.delay)
        if "/tags/list" in path:
            with self._lock:
                self.lists_in_flight += 1
                self.most_lists_in_flight = max(self.most_lists_in_flight, self.lists_in_flight)
            time.sleep(faults.list_delay)
            with self._lock:
                self.lists_in_flight -= 1
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host",)}
        if auth:
            headers["Authorization"] = auth
        else:
            headers.pop("Authorization", None)
        upstream = http.client.HTTPConnection(self.upstream, timeout=60)
        try:
            upstream.request(method, path, headers=headers)
            response = upstream.getresponse()
            handler.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() in ("connection", "transfer-encoding", "keep-alive"):
                    continue
                handler.send_header(key, value.replace(self.upstream, self.host))
            body_chunks = None if method == "HEAD" else response
            if body_chunks is not None and response.getheader("Content-Length") is None:
                data = response.read()
                handler.send_header("Content-Length", str(len(data)))
                handler.end_headers()
                handler.wfile.write(data)
                self._count(len(data))
                return
            handler.end_headers()
            if body_chunks is None:
                return
            cut = None
            with self._lock:
                if digest in faults.drop_after and faults.drop_times > 0 and response.status == 200:
                    cut = faults.drop_after[digest]
                    faults.drop_times -= 1
            sent = 0
            first = True
            while chunk := response.read(1 << 16):
                if digest in faults.tamper and first and response.status in (200, 206):
                    chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
                first = False
                if cut is not None and sent + len(chunk) > cut:
                    chunk = chunk[: cut - sent]
                    handler.wfile.write(chunk)
                    handler.wfile.flush()
                    self._count(len(chunk))
                    handler.close_connection = True
                    with contextlib.suppress(OSError):
                        handler.connection.shutdown(socket.SHUT_RDWR)
                    return
                handler.wfile.write(chunk)
                sent += len(chunk)
                self._count(len(chunk))
        finally:
            upstream.close()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


# --- OCI layouts the tests push -----------------------------------------------------------------


def _write_blob(layout: Path, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def _write_layout(layout: Path, manifests: list[dict[str, Any]]) -> None:
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    }
    (layout / "index.json").write_text(json.dumps(index))


def _image(
    layout: Path, layer: bytes, diff_id: str, platform: dict[str, str], labels: dict[str, str]
) -> dict[str, Any]:
    layer_digest = _write_blob(layout, layer)
    config = {
        **platform,
        "created": "2024-01-01T00:00:00Z",
        "config": {"Labels": labels},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "ADD rootfs /", "created": "2024-01-01T00:00:00Z"}],
    }
    config_data = json.dumps(config).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _write_blob(layout, config_data),
            "size": len(config_data),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": layer_digest,
                "size": len(layer),
            }
        ],
    }
    data = json.dumps(manifest).encode()
    return {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": _write_blob(layout, data),
        "size": len(data),
        "platform": platform,
    }


def layout_from_rootfs(tarball: Path, layout: Path, tag: str, arch: str = "amd64") -> Path:
    """A one-layer OCI layout whose layer is the (gzip) root filesystem tarball as it is."""
    shutil.rmtree(layout, ignore_errors=True)
    layout.mkdir(parents=True)
    layer = tarball.read_bytes()
    diff_id = "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
    platform = {"os": "linux", "architecture": arch}
    descriptor = _image(layout, layer, diff_id, platform, {"org.example.tag": tag})
    descriptor["annotations"] = {"org.opencontainers.image.ref.name": tag}
    _write_layout(layout, [descriptor])
    return layout


def two_platform_layout(amd64: Path, arm64: Path, layout: Path, tag: str) -> Path:
    """An OCI layout whose one entry is an index of two images: linux/amd64 and linux/arm64.

    The arm64 image reuses a root filesystem tarball (the content does not matter to a pull).
    """
    shutil.rmtree(layout, ignore_errors=True)
    layout.mkdir(parents=True)
    entries = []
    for tarball, arch in ((amd64, "amd64"), (arm64, "arm64")):
        layer = tarball.read_bytes()
        diff_id = "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
        platform = {"os": "linux", "architecture": arch}
        entries.append(_image(layout, layer, diff_id, platform, {"org.example.tag": tag}))
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    }
    data = json.dumps(index).encode()
    descriptor = {
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": _write_blob(layout, data),
        "size": len(data),
        "annotations": {"org.opencontainers.image.ref.name": tag},
    }
    _write_layout(layout, [descriptor])
    return layout


def layout_tag_dir(oci_tar: Path, dest: Path) -> Path:
    """Unpack an OCI layout tar (such as the busybox fixtures) into a directory."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    with tarfile.open(oci_tar) as archive:
        archive.extractall(dest, filter="data")
    return dest
