"""Files over the link: SFTP reads, and writes that land whole (staged in a private directory,
sha256-checked on the host, then renamed into place), and a tree sync that sends only what
differs. Each operation, the commands it needs included, fits in its `timeout`."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import posixpath
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dockyard.commands import remote
from dockyard.deadline import Deadline
from dockyard.ssh.errors import CommandTimeout, LinkError, RemoteFileError, TransferTimeout
from dockyard.ssh.execute import RemoteExec
from dockyard.ssh.transport import Overdue, file_errors

CLEANUP_TIMEOUT = 15.0


@dataclass(frozen=True)
class _Upload:
    """One file to install: where its bytes come from, their sha256, target path and mode."""

    source: Path | bytes
    sha256: str
    target: str
    mode: int

    def open(self) -> BinaryIO:
        return self.source.open("rb") if isinstance(self.source, Path) else io.BytesIO(self.source)


class Transfer:
    """SFTP and the checked install of files, on the connections `commands` runs on."""

    def __init__(self, commands: RemoteExec) -> None:
        self.label = commands.label
        self._commands = commands

    def upload_file(self, local: Path, remote_path: str, mode: int, timeout: float) -> None:
        local = Path(local)
        upload = _Upload(local, _sha256_file(local), remote_path, mode)
        with self._within(f"upload of {remote_path}", timeout) as deadline:
            self._install(posixpath.dirname(remote_path) or ".", [upload], deadline)

    def write_file(self, remote_path: str, data: bytes, mode: int, timeout: float) -> None:
        upload = _Upload(data, hashlib.sha256(data).hexdigest(), remote_path, mode)
        with self._within(f"write of {remote_path}", timeout) as deadline:
            self._install(posixpath.dirname(remote_path) or ".", [upload], deadline)

    def upload_tree(
        self,
        local_dir: Path,
        remote_dir: str,
        mode_for: Callable[[str], int] | None,
        timeout: float,
    ) -> list[str]:
        local_dir = Path(local_dir)
        if not local_dir.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(local_dir))
        wanted: dict[str, _Upload] = {}
        for path in sorted(local_dir.rglob("*")):
            if path.is_file():
                rel = path.relative_to(local_dir).as_posix()
                mode = mode_for(rel) if mode_for else _local_mode(path)
                target = posixpath.join(remote_dir, rel)
                wanted[rel] = _Upload(path, _sha256_file(path), target, mode)
        with self._within(f"upload to {remote_dir}", timeout) as deadline:
            present = self._file_state(remote_dir, list(wanted), deadline)
            changed = [u for rel, u in wanted.items() if present.get(rel) != (u.sha256, u.mode)]
            if changed:
                self._install(remote_dir, changed, deadline)
        return [u.target for u in changed]

    def read_file(self, remote_path: str, max_bytes: int, timeout: float) -> bytes | None:
        with self._within(f"read of {remote_path}", timeout) as deadline:
            session = self._commands.live(deadline.left())
            with file_errors(self.label, remote_path), session.sftp(deadline.left) as sftp:
                try:
                    size = sftp.stat(remote_path).st_size or 0
                except FileNotFoundError:
                    return None
                if size > max_bytes:
                    raise RemoteFileError(
                        self.label, remote_path, f"is {size} bytes, over max_bytes={max_bytes}"
                    )
                with sftp.open(remote_path, "rb") as handle:
                    data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise RemoteFileError(self.label, remote_path, f"grew over {max_bytes} bytes")
        return data

    @contextlib.contextmanager
    def _within(self, what: str, timeout: float) -> Iterator[Deadline]:
        """The operation's deadline; running out anywhere inside is a TransferTimeout."""
        try:
            yield Deadline(what, timeout)
        except (Overdue, CommandTimeout) as exc:
            if isinstance(exc, TransferTimeout):
                raise
            raise TransferTimeout(self.label, what, timeout) from None

    def _run(self, script: str, deadline: Deadline, stdin: bytes | None = None) -> str:
        if deadline.expired:
            raise Overdue
        return self._commands.run(script, timeout=deadline.left(), stdin=stdin).stdout

    def _file_state(
        self, remote_dir: str, names: list[str], deadline: Deadline
    ) -> dict[str, tuple[str, int]]:
        """sha256 and mode of each named file under remote_dir that exists, in one command."""
        if not names:
            return {}
        return remote.parse_file_state(self._run(remote.file_state(remote_dir, names), deadline))

    def _install(self, parent: str, uploads: list[_Upload], deadline: Deadline) -> None:
        """Stage uploads in a private directory under parent (made by SFTP; by a command when
        parent is missing), check their sha256 on the host, then rename each into place (an
        atomic replace on the same file system), in one command."""
        stage = remote.stage_dir(parent, secrets.token_hex(6))
        made = installed = False
        try:
            session = self._commands.live(deadline.left())
            with file_errors(self.label, stage), session.sftp(deadline.left) as sftp:
                try:
                    sftp.mkdir(stage, 0o700)
                except FileNotFoundError:
                    self._run(remote.make_stage(stage, [parent]), deadline)
                made = True
                for n, upload in enumerate(uploads):
                    staged = f"{stage}/{n}"
                    with upload.open() as source:
                        sftp.putfo(source, staged, confirm=False)
                    sftp.chmod(staged, upload.mode)
            script, checks = remote.install_staged(stage, [(u.sha256, u.target) for u in uploads])
            if deadline.expired:
                raise Overdue
            done = self._commands.run(script, timeout=deadline.left(), stdin=checks, check=False)
            if done.exit_status != 0:
                raise RemoteFileError(
                    self.label,
                    ", ".join(u.target for u in uploads),
                    f"sha256 check or rename after upload failed: "
                    f"{(done.stdout + done.stderr).strip()[-500:]}",
                )
            installed = True
        finally:
            if made and not installed:
                with contextlib.suppress(LinkError):
                    self._commands.run(
                        remote.drop_stage(stage), timeout=CLEANUP_TIMEOUT, check=False
                    )


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _local_mode(path: Path) -> int:
    return 0o755 if os.access(path, os.X_OK) else 0o644
