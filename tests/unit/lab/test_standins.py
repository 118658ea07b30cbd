"""Stand-in images for the real stacks: entrypoint, shims and files where the compose files
call them, and a moved floating tag is another digest."""

from __future__ import annotations

import io
import json
import tarfile

from dockyard.lab import standins
from dockyard.lab.images import build


def _files(image_spec: object) -> dict[str, tarfile.TarInfo]:
    top = build(image_spec).layers[-1]  # type: ignore[arg-type]
    with tarfile.open(fileobj=io.BytesIO(top.data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_standins_have_their_entrypoint_shims_and_the_files_the_compose_files_call() -> None:
    files = _files(standins.postgres("18"))
    assert {"srv/standin", "usr/local/bin/pg_isready", "usr/local/bin/psql"} <= set(files)
    assert {"usr", "usr/local", "usr/local/bin"} <= {n for n, m in files.items() if m.isdir()}
    assert files["usr/local/bin/pg_isready"].mode == 0o755
    assert "entrypoint.sh" in _files(standins.plausible())
    assert {"entrypoint", "bin/bash", "usr/local/bin/curl"} <= set(
        _files(standins.airflow("3.0.2"))
    )
    config = json.loads(build(standins.postgres("18")).config.data)["config"]
    assert config["Entrypoint"] == ["/srv/standin"]
    assert config["Cmd"] == ["postgres"]
    assert [e for e in config["Env"] if e.startswith("PATH=")] == ["PATH=/usr/local/bin:/bin"]


def test_every_standin_is_its_own_digest_and_a_moved_tag_is_a_new_one() -> None:
    digests = [build(spec).digest for spec in standins.standin_images()]
    assert len(set(digests)) == len(digests)
    assert build(standins.n8n(1)).digest == build(standins.n8n()).digest
    assert build(standins.n8n(2)).digest != build(standins.n8n(1)).digest
