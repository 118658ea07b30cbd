"""Keys: the known_hosts name of a host, parsing a pinned key line, reading known_hosts, pinning
them on a client (refusing unknown or changed host keys with the fix), and loading our key.

The one place these rules live; config validation and the link both call them."""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from dockyard.ssh.errors import AuthFailed, HostKeyRejected, LinkError

if TYPE_CHECKING:
    from dockyard.ssh.settings import LinkSettings

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


def load_known_hosts(path: Path, into: paramiko.HostKeys | None = None) -> paramiko.HostKeys:
    """A known_hosts file (added to `into` when given); a malformed line is a KeyProblem naming
    the file."""
    keys = paramiko.HostKeys() if into is None else into
    try:
        keys.load(str(path))
    except paramiko.hostkeys.InvalidHostKey as exc:
        raise KeyProblem(
            f"{path} has a malformed line: {exc.exc}",
            "fix or delete that line (regenerate with ssh-keyscan)",
        ) from None
    return keys


class RejectUnpinned(paramiko.RejectPolicy):
    """RejectPolicy that says which key was offered and how to pin it."""

    def __init__(self, settings: LinkSettings) -> None:
        self._settings = settings

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        s = self._settings
        line = f"{s.known_hosts_name} {key.get_name()} {key.get_base64()}"
        target = s.known_hosts or "known_hosts"
        where = f"known_hosts {s.known_hosts}" if s.known_hosts else "host_key"
        raise HostKeyRejected(
            s.label,
            f"{s.host}:{s.port}",
            key.get_name(),
            key.fingerprint,
            f"no key for {s.known_hosts_name} is pinned in {where}",
            "compare the fingerprint with the host's own (ssh-keygen -lf "
            "/etc/ssh/ssh_host_*_key.pub on it), then pin it: add this line to "
            f"{target}:\n  {line}\n(or: ssh-keyscan -p {s.port} {s.host} >> {target}), "
            f'or set host_key: "{key.get_name()} {key.get_base64()}" in the target config',
        )


def changed_key(s: LinkSettings, offered: Any, expected: Any) -> HostKeyRejected:
    """The refusal of a host key that differs from the pinned one."""
    target = s.known_hosts or "known_hosts"
    return HostKeyRejected(
        s.label,
        f"{s.host}:{s.port}",
        offered.get_name(),
        offered.fingerprint,
        f"it differs from the pinned {expected.get_name()} {expected.fingerprint}; the host "
        "was reinstalled, or someone is in the middle",
        "find out which; only if the host really changed, re-pin it: "
        f"ssh-keygen -R '{s.known_hosts_name}' -f {target} && "
        f"ssh-keyscan -p {s.port} {s.host} >> {target} (check the fingerprint), "
        "or update host_key in the target config",
    )


def pin_host_keys(client: paramiko.SSHClient, s: LinkSettings) -> None:
    """Make the client trust exactly the keys of known_hosts and host_key."""
    keys = client.get_host_keys()
    try:
        if s.known_hosts:
            load_known_hosts(s.known_hosts, into=keys)
        if s.host_key:
            key = parse_host_key(s.host_key)
            keys.add(s.known_hosts_name, key.get_name(), key)
    except OSError as exc:
        raise LinkError(s.label, f"cannot read known_hosts {s.known_hosts}: {exc}") from None
    except KeyProblem as exc:
        raise LinkError(s.label, f"{exc}. Fix: {exc.fix}") from None


_KEY_CLASSES: tuple[tuple[type, type[paramiko.PKey]], ...] = (
    (ed25519.Ed25519PrivateKey, paramiko.Ed25519Key),
    (ec.EllipticCurvePrivateKey, paramiko.ECDSAKey),
    (rsa.RSAPrivateKey, paramiko.RSAKey),
)


def load_key(s: LinkSettings) -> paramiko.PKey | None:
    """The private key from key_file or key_data, decrypted with key_passphrase."""
    if s.key_file:
        origin = f"key file {s.key_file}"
        try:
            data = s.key_file.read_bytes()
        except OSError as exc:
            raise AuthFailed(
                s.label, f"cannot read {origin}: {exc.strerror}", "fix key_file"
            ) from None
    elif s.key_data:
        origin, data = "key data", s.key_data.encode()
    else:
        return None
    try:
        return parse_private_key(data, s.key_passphrase, origin)
    except KeyProblem as exc:
        raise AuthFailed(s.label, str(exc), exc.fix) from None


def parse_private_key(data: bytes, passphrase: str | None, origin: str) -> paramiko.PKey:
    """The private key in `data` (OpenSSH or PEM; ed25519, ecdsa or rsa), decrypted with
    `passphrase`; KeyProblem names `origin` and the fix."""
    password = passphrase.encode() if passphrase else None
    try:
        if b"BEGIN OPENSSH PRIVATE KEY" in data:
            loaded = serialization.load_ssh_private_key(data, password)
        else:
            loaded = serialization.load_pem_private_key(data, password)
        key_class = next(k for c, k in _KEY_CLASSES if isinstance(loaded, c))
        return key_class.from_private_key(io.StringIO(data.decode()), password=passphrase)
    except TypeError:
        reason = f"{origin} is encrypted and no passphrase was given"
        fix = "set the passphrase (key_passphrase_env)"
    except StopIteration:
        reason, fix = f"{origin} is not an ed25519, ecdsa or rsa key", "use one of those types"
    except (ValueError, UnicodeDecodeError, paramiko.SSHException):
        reason = f"cannot decrypt or parse {origin} as a private key"
        fix = "check the passphrase, and that it is a whole private key (newlines included)"
    raise KeyProblem(reason, fix)


def auth_fix(s: LinkSettings) -> str:
    """What to do when the host refuses our key."""
    source = "ssh-agent keys" if s.use_agent and not (s.key_file or s.key_data) else "the key"
    return (
        f"add the public half of {source} to ~{s.user}/.ssh/authorized_keys on {s.host}, "
        f"and check the user ({s.user})"
    )
