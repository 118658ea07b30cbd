"""https health checks on the lab: a real TLS server (a CA and a certificate made here) on
127.0.0.1, reached through the VM's SSH link; verified with ca_file, query string kept."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dockyard.deadline import Deadline
from dockyard.errors import HealthCheckFailed
from dockyard.lab.lab import Lab
from dockyard.masking import Masker
from dockyard.pipeline.health import check_http, http_get
from dockyard.runner import LinkRunner
from dockyard.ssh.link import Link
from dockyard.ssh.settings import LinkSettings


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_certs(directory: Path, ip: str = "127.0.0.1") -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key): a CA and a server certificate for `ip`."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("dockyard test CA"))
        .issuer_name(_name("dockyard test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(ip))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class _Handler(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = b"ok\n" if self.path == "/health?probe=1&deep=yes" else b"wrong path\n"
        self.send_response(200 if body == b"ok\n" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@contextlib.contextmanager
def serve(cert: Path, key: Path) -> Iterator[tuple[int, list[str]]]:
    """An https server on 127.0.0.1: (its port, the paths requested)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    seen: list[str] = []
    _Handler.seen = seen
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture()
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, list[str]]]:
    """(port, ca.pem, paths requested) of an https server for 127.0.0.1."""
    ca, cert, key = make_certs(tmp_path)
    with serve(cert, key) as (port, seen):
        yield port, ca, seen


@pytest.fixture()
def link(lab: Lab) -> Iterator[LinkRunner]:
    """The vm1 host as a step calls it: a LinkRunner over the SSH link."""
    settings = LinkSettings(
        name="vm1", host="127.0.0.1", port=lab.layout.ports.sshd,
        key_file=lab.layout.client_key, known_hosts=lab.layout.known_hosts, connect_timeout=5,
    )  # fmt: skip
    with Link(settings) as opened:
        yield LinkRunner(opened, lambda _line: None, Masker())


def deadline() -> Deadline:
    return Deadline("health", 60)


def check_once(
    link: LinkRunner, url: str, ca_file: Path | None = None, timeout: float = 10
) -> None:
    """One attempt of the HTTP check through the link, no retry."""
    check_http(link, url, status=200, attempts=1, interval=0, deadline=deadline(),
               timeout=timeout, ca_file=ca_file)  # fmt: skip


def test_https_check_through_the_link_with_ca_file(
    link: LinkRunner, tls_server: tuple[int, Path, list[str]]
) -> None:
    port, ca, seen = tls_server
    url = f"https://127.0.0.1:{port}/health?probe=1&deep=yes"
    result = check_http(
        link, url, status=200, attempts=2, interval=0, deadline=deadline(), timeout=10, ca_file=ca
    )
    assert (result.status, result.attempts) == (200, 1)
    assert seen == ["/health?probe=1&deep=yes"]
    assert http_get(link, f"https://127.0.0.1:{port}/other", deadline(), 10, ca) == 404


def test_https_check_refuses_an_untrusted_certificate(
    link: LinkRunner, tls_server: tuple[int, Path, list[str]]
) -> None:
    port, _, seen = tls_server
    url = f"https://127.0.0.1:{port}/health?probe=1&deep=yes"
    with pytest.raises(HealthCheckFailed) as failed:
        check_once(link, url)
    assert "TLS certificate not trusted" in str(failed.value) and "set ca_file" in str(failed.value)
    assert seen == []


def test_https_check_trusts_only_the_ca_file(
    link: LinkRunner, tls_server: tuple[int, Path, list[str]], tmp_path: Path
) -> None:
    port, _, seen = tls_server
    other_ca, _, _ = make_certs(tmp_path / "other")
    url = f"https://127.0.0.1:{port}/health?probe=1&deep=yes"
    with pytest.raises(HealthCheckFailed, match="TLS certificate not trusted"):
        check_once(link, url, other_ca)
    assert seen == []


def test_https_check_verifies_the_url_host(link: LinkRunner, tmp_path: Path) -> None:
    ca, cert, key = make_certs(tmp_path, ip="127.0.0.2")
    with serve(cert, key) as (port, seen):
        url = f"https://127.0.0.1:{port}/health?probe=1&deep=yes"
        with pytest.raises(HealthCheckFailed, match="TLS certificate not trusted: IP address"):
            check_once(link, url, ca)
    assert seen == []


class _Trickle(BaseHTTPRequestHandler):
    """Answers one byte every half second, headers included (per-read timeouts never trip)."""

    def do_GET(self) -> None:
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n" + b"x" * 40
        with contextlib.suppress(OSError):
            for byte in answer:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.5)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.mark.timeout(60)
def test_a_server_trickling_its_answer_is_cut_at_the_checks_timeout(link: LinkRunner) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/health"
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="no whole answer within 2 s"):
            http_get(link, url, Deadline("health", 10), 2)
        assert time.monotonic() - started < 3.5
        with pytest.raises(HealthCheckFailed, match="TimeoutError: no whole answer within 2 s"):
            check_once(link, url, timeout=2)
    finally:
        server.shutdown()
        server.server_close()
