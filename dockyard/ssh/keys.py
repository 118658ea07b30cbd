"""Host keys: the known_hosts name of a host, parsing a pinned key line, reading known_hosts.

The one place these rules live; config validation and the link both call them."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

import paramiko

HOST_KEY_FIX = "use one 'ssh-ed25519 AAAA...' line (from ssh-keyscan, without the host name)"


class KeyProblem(ValueError):
    """A host key or known_hosts file that cannot be used; `fix` says what to do."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


def known_hosts_name(host: str, port: int) -> str:
    """The host's name in known_hosts: `host`, or `[host]:port` off port 22."""
    return host if port == 22 else f"[{host}]:{port}"


def parse_host_key(line: str) -> paramiko.PKey:
    """The key of a pinned `host_key: "ssh-ed25519 AAAA..."` line."""
    fields = line.split()
    if len(fields) >= 3 and fields[0][:4] not in ("ssh-", "ecds") and fields[1][:4] == "ssh-":
        raise KeyProblem("host_key starts with a host name", HOST_KEY_FIX)
    if len(fields) < 2:
        raise KeyProblem("host_key needs a key type and key data", HOST_KEY_FIX)
    try:
        return paramiko.PKey.from_type_string(fields[0], base64.b64decode(fields[1], validate=True))
    except (binascii.Error, paramiko.SSHException, ValueError) as exc:
        raise KeyProblem(f"host_key is not a valid key: {exc}", HOST_KEY_FIX) from None


def load_known_hosts(path: Path) -> paramiko.HostKeys:
    """A known_hosts file; a malformed line is a KeyProblem naming the file."""
    keys = paramiko.HostKeys()
    try:
        keys.load(str(path))
    except paramiko.hostkeys.InvalidHostKey as exc:
        raise KeyProblem(
            f"{path} has a malformed line: {exc.exc}",
            "fix or delete that line (regenerate with ssh-keyscan)",
        ) from None
    return keys
