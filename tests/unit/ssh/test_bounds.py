"""Every link operation fits in its own `timeout`, even when the server never answers: a local
TCP listener that accepts and stays silent stands in for a hung sshd."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from dockyard.ssh.errors import CommandTimeout, LinkDown, TransferTimeout
from dockyard.ssh.link import Link
from dockyard.ssh.settings import LinkSettings

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAII0mk20tdQO7KBEj8XBm1BvPuE/bjqhiF6zQ9hBmxO1w"
LONG = 30.0
SHORT = 0.3


@pytest.fixture()
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never sends a byte (no SSH banner)."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


def silent_link(port: int, **overrides: Any) -> Link:
    key = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    values: dict[str, Any] = {
        "name": "hung",
        "host": "127.0.0.1",
        "port": port,
        "key_data": key.decode(),
        "host_key": HOST_KEY,
        "keepalive_interval": 0,
        "connect_timeout": LONG,
    }
    values.update(overrides)
    return Link(LinkSettings(**values))


def test_a_command_on_a_server_that_never_answers_times_out_within_its_own_timeout(
    silent_port: int,
) -> None:
    with silent_link(silent_port) as link, pytest.raises(CommandTimeout) as caught:
        link.run("true", timeout=SHORT)
    assert type(caught.value) is CommandTimeout
    assert f"past its {SHORT:g} s timeout" in str(caught.value)


@pytest.mark.parametrize("operation", ["read_file", "write_file", "upload_tree"])
def test_a_transfer_on_a_server_that_never_answers_times_out_within_its_own_timeout(
    silent_port: int, operation: str, tmp_path: Any
) -> None:
    (tmp_path / "compose.yml").write_text("services: {}\n")
    calls = {
        "read_file": lambda link: link.read_file("/srv/app/.env", timeout=SHORT),
        "write_file": lambda link: link.write_file("/srv/app/.env", b"A=1\n", timeout=SHORT),
        "upload_tree": lambda link: link.upload_tree(tmp_path, "/srv/app", timeout=SHORT),
    }
    with silent_link(silent_port) as link, pytest.raises(TransferTimeout) as caught:
        calls[operation](link)
    assert f"past its {SHORT:g} s timeout; stopped it" in str(caught.value)


@pytest.mark.parametrize("operation", ["open_stdio", "open_direct_tcpip"])
def test_opening_a_channel_socket_past_its_timeout_is_a_socket_timeout(
    silent_port: int, operation: str
) -> None:
    with silent_link(silent_port) as link, pytest.raises(TimeoutError, match=r"took over 0\.3 s"):
        if operation == "open_stdio":
            link.open_stdio("docker system dial-stdio", timeout=SHORT)
        else:
            link.open_direct_tcpip("127.0.0.1", 5000, timeout=SHORT)


def test_connect_gives_up_after_connect_timeout_as_link_down(silent_port: int) -> None:
    with silent_link(silent_port, connect_timeout=SHORT) as link, pytest.raises(LinkDown) as caught:
        link.connect()
    assert "no handshake in time" in str(caught.value)
    assert f"connect_timeout {SHORT:g} s" in str(caught.value)


def test_a_call_waiting_on_another_calls_connect_gives_up_within_its_own_timeout(
    silent_port: int,
) -> None:
    failures: list[BaseException] = []

    def connect(link: Link) -> None:
        try:
            link.connect()
        except LinkDown as exc:
            failures.append(exc)

    with silent_link(silent_port, connect_timeout=2.0) as link:
        connecting = threading.Thread(target=connect, args=(link,))
        connecting.start()
        while not link._lock.locked():
            threading.Event().wait(0.01)
        with pytest.raises(CommandTimeout):
            link.run("true", timeout=SHORT)
        connecting.join(10)
    assert len(failures) == 1
