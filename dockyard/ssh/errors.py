"""Errors of the SSH link; each names the host and, where there is one, the fix.

They are DockyardErrors: `transient` says whether a retry on a fresh connection can help, and
each pickles with its message and attributes (the root's __reduce__)."""

from __future__ import annotations

from dockyard.errors import DockyardError


class LinkError(DockyardError):
    """Base class: something went wrong talking to a host over SSH."""

    def __init__(self, host: str, message: str) -> None:
        super().__init__(message)
        self.host = host


class LinkDown(LinkError):
    """The link was lost, the peer stopped answering, or it could not be (re)built.

    Transient by nature: the next use of the link builds a new connection."""

    transient = True

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(host, f"link to {host} is down: {reason}")
        self.reason = reason


class HostKeyRejected(LinkError):
    """The host offered a key that is not pinned (unknown) or differs from the pinned one."""

    def __init__(
        self,
        host: str,
        address: str,
        offered_type: str,
        offered_fingerprint: str,
        problem: str,
        fix: str,
    ) -> None:
        super().__init__(
            host,
            f"host key of {host} ({address}) refused: {problem}; the server offered "
            f"{offered_type} {offered_fingerprint}. Fix: {fix}",
        )
        self.address = address
        self.offered_type = offered_type
        self.offered_fingerprint = offered_fingerprint


class AuthFailed(LinkError):
    """The host refused our key, or the key could not be loaded (wrong passphrase, bad data)."""

    def __init__(self, host: str, reason: str, fix: str) -> None:
        super().__init__(host, f"authentication to {host} failed: {reason}. Fix: {fix}")
        self.reason = reason


class CommandFailed(LinkError):
    """A remote command exited non-zero (or was killed by a signal: exit_status -1)."""

    def __init__(self, host: str, command: str, exit_status: int, stderr_tail: str) -> None:
        how = "was killed by a signal" if exit_status < 0 else f"exited with {exit_status}"
        tail = f"; stderr ends with:\n{stderr_tail}" if stderr_tail else "; no stderr"
        super().__init__(host, f"`{command}` on {host} {how}{tail}")
        self.command = command
        self.exit_status = exit_status
        self.stderr_tail = stderr_tail


class CommandTimeout(LinkError):
    """A remote command ran past its timeout; its process group was killed (if `killed`)."""

    transient = True

    def __init__(self, host: str, command: str, timeout: float, killed: bool) -> None:
        fate = "killed it" if killed else "could not confirm it was killed"
        super().__init__(host, f"`{command}` on {host} ran past its {timeout:g} s timeout; {fate}")
        self.command = command
        self.timeout = timeout
        self.killed = killed


class OutputTooLarge(LinkError):
    """A remote command printed more than one command may (OUTPUT_CAP); its process group was
    killed (if `killed`). Permanent: the same command would print as much again."""

    def __init__(self, host: str, command: str, limit: int, killed: bool) -> None:
        fate = "killed it" if killed else "could not confirm it was killed"
        super().__init__(
            host,
            f"`{command}` on {host} printed over {limit} bytes, more than dockyard reads from"
            f" one command; {fate}. Make it print less (its output ends up in the deploy log)",
        )
        self.command = command
        self.limit = limit
        self.killed = killed


class TransferTimeout(CommandTimeout):
    """An SFTP read, write or upload (with the commands it needs) ran past its timeout; its
    channel was closed, so nothing of it runs on."""

    def __init__(self, host: str, what: str, timeout: float) -> None:
        LinkError.__init__(
            self, host, f"{what} on {host} ran past its {timeout:g} s timeout; stopped it"
        )
        self.command = what
        self.timeout = timeout
        self.killed = True


class ChannelsBusy(LinkError):
    """Every channel slot of the link stayed taken for the whole wait."""

    transient = True

    def __init__(self, host: str, slots: int, waited: float) -> None:
        super().__init__(
            host,
            f"all {slots} channels to {host} stayed busy for {waited:g} s; "
            "raise max_channels (at most 9) or run fewer things at once",
        )
        self.slots = slots
        self.waited = waited


class RemoteFileError(LinkError):
    """An SFTP read or write failed on the host (missing directory, permissions, size, checksum)."""

    def __init__(self, host: str, path: str, reason: str) -> None:
        super().__init__(host, f"{path} on {host}: {reason}")
        self.path = path
        self.reason = reason
