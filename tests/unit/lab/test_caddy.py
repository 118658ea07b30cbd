"""The caddy image takes the libraries `ldd` names, and host files land at their image paths."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from dockyard.lab.caddy import parse_ldd
from dockyard.lab.images import SyntheticImage, build

LDD = """\tlinux-vdso.so.1 (0x00007efe90b8f000)
\tlibzstd.so.1 => /lib/x86_64-linux-gnu/libzstd.so.1 (0x00007efe90ac2000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007efe908e0000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007efe90b91000)
"""


def test_parse_ldd_keeps_the_paths_the_loader_asks_for_and_skips_the_vdso() -> None:
    found = parse_ldd(LDD)
    assert set(found) == {
        "lib/x86_64-linux-gnu/libzstd.so.1",
        "lib/x86_64-linux-gnu/libc.so.6",
        "lib64/ld-linux-x86-64.so.2",
    }
    assert all(path.is_absolute() for path in found.values())


def test_host_files_are_copied_byte_for_byte_under_their_parent_dirs(tmp_path: Path) -> None:
    binary = tmp_path / "tool"
    binary.write_bytes(b"\x7fELF\x00\xff binary")
    spec = SyntheticImage("dockyard/tool", "1", host_files={"usr/bin/tool": binary})
    top = build(spec).layers[-1]
    with tarfile.open(fileobj=io.BytesIO(top.data)) as tar:
        names = tar.getnames()
        member = tar.extractfile("usr/bin/tool")
        assert member is not None and member.read() == binary.read_bytes()
    assert names.index("usr") < names.index("usr/bin") < names.index("usr/bin/tool")
    assert build(spec).digest == build(spec).digest
