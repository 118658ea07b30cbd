"""The link never offers SHA-1/MD5 kex, MACs or signatures, nor CBC/3DES ciphers: the KEXINIT
it sends to a listener on 127.0.0.1 is read and checked, name-list by name-list."""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from dockyard.ssh.errors import LinkError
from dockyard.ssh.settings import LinkSettings
from dockyard.ssh.transport import WEAK_ALGORITHMS, connect

pytestmark = pytest.mark.timeout(30)

LISTS = ("kex", "hostkeys", "ciphers c2s", "ciphers s2c", "macs c2s", "macs s2c")
WEAK = {name for names in WEAK_ALGORITHMS.values() for name in names}


def _read_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        assert chunk, "the client closed before its KEXINIT"
        data += chunk
    return data


def _client_kexinit(listener: socket.socket, out: dict[str, list[str]]) -> None:
    conn, _ = listener.accept()
    with conn:
        conn.sendall(b"SSH-2.0-OpenSSH_9.2p1\r\n")
        banner = b""
        while not banner.endswith(b"\n"):
            banner += _read_exact(conn, 1)
        length = struct.unpack(">I", _read_exact(conn, 4))[0]
        packet = _read_exact(conn, length)
        payload = packet[1 : length - packet[0]]
        assert payload[0] == 20, "not a KEXINIT"
        at = 17
        for name in LISTS:
            size = struct.unpack(">I", payload[at : at + 4])[0]
            out[name] = payload[at + 4 : at + 4 + size].decode().split(",")
            at += 4 + size


def test_the_client_offers_no_weak_algorithm(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    key.chmod(0o600)
    host = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    listener = socket.create_server(("127.0.0.1", 0))
    offered: dict[str, list[str]] = {}
    server = threading.Thread(target=_client_kexinit, args=(listener, offered))
    server.start()
    settings = LinkSettings(
        name="vm1",
        host="127.0.0.1",
        port=listener.getsockname()[1],
        key_file=key,
        host_key=host.decode(),
        connect_timeout=3,
    )
    with pytest.raises(LinkError):
        connect(settings, 3)
    server.join(5)
    listener.close()
    assert set(offered) == set(LISTS)
    assert "curve25519-sha256" in offered["kex"] or "curve25519-sha256@libssh.org" in offered["kex"]
    assert "hmac-sha2-256" in offered["macs c2s"] and "aes128-ctr" in offered["ciphers c2s"]
    for name, names in offered.items():
        assert not WEAK & set(names), (name, sorted(WEAK & set(names)))
