"""Stand-ins for the images of real public stacks (n8n, plausible, airflow): same repository
paths on the lab registry, busybox inside, exit-0 shims for the commands their compose files
call (healthchecks, entrypoints, init scripts)."""

from __future__ import annotations

from dockyard.lab.images import SyntheticImage

STANDIN = """#!/bin/sh
# stand-in for $STANDIN_IMAGE: `sh ...` or an absolute path runs as given (exec "$@"), a first
# argument listed in $STANDIN_ONE_SHOT exits 0 at once, anything else serves /www on
# $STANDIN_PORT until TERM
case "$1" in sh|/*) exec "$@" ;; esac
for verb in $STANDIN_ONE_SHOT; do
  if [ "$1" = "$verb" ]; then echo "stand-in $STANDIN_IMAGE: $*"; exit 0; fi
done
httpd -f -p "$STANDIN_PORT" -h /www &
pid=$!
trap 'kill $pid; exit 0' TERM INT
wait $pid
"""

SHIM = """#!/bin/sh
# stand-in shim: the real tool's checks always pass here
exit 0
"""

SHOW_FILES = """#!/bin/sh
# stand-in bash for a one-shot `bash -c <script>`: print the files it was given, exit 0
for f in {dirs}; do
  if [ -f "$f" ]; then echo "== $f"; cat "$f"; fi
done
exit 0
"""

AIRFLOW_FILES = "/opt/airflow/config/* /opt/airflow/dags/*"


def standin(
    repository: str,
    tag: str,
    *,
    port: int = 8080,
    one_shot: tuple[str, ...] = (),
    shims: tuple[str, ...] = (),
    paths: dict[str, str] | None = None,
    cmd: tuple[str, ...] = (),
    generation: int = 1,
) -> SyntheticImage:
    """An image at `repository:tag` whose entrypoint serves HTTP on `port` (or exits 0 for a
    first argument in `one_shot`), with exit-0 `shims` in /usr/local/bin and extra `paths`.
    Another `generation` is another digest of the same tag (an upstream move)."""
    ref = f"{repository}:{tag}"
    files = {f"usr/local/bin/{name}": SHIM for name in shims}
    files["www/index.html"] = f"{ref}\n"
    files["www/version"] = f"{ref} generation {generation}\n"
    files.update(paths or {})
    return SyntheticImage(
        repository,
        tag,
        files={"standin": STANDIN},
        cmd=cmd,
        entrypoint=("/srv/standin",),
        env={
            "PATH": "/usr/local/bin:/bin",
            "STANDIN_IMAGE": ref,
            "STANDIN_PORT": str(port),
            "STANDIN_ONE_SHOT": " ".join(one_shot),
            "STANDIN_GENERATION": str(generation),
        },
        paths=files,
    )


def postgres(tag: str) -> SyntheticImage:
    return standin("postgres", tag, port=5432, shims=("pg_isready", "psql"), cmd=("postgres",))


def redis(tag: str) -> SyntheticImage:
    return standin("redis", tag, port=6379, shims=("redis-cli",), cmd=("redis-server",))


def n8n(generation: int = 1) -> SyntheticImage:
    """n8nio/n8n:stable, the tag n8n-hosting's .env floats on (generation 2: it moved)."""
    return standin("n8nio/n8n", "stable", port=5678, generation=generation)


def plausible() -> SyntheticImage:
    """plausible/analytics:v2.0: its command runs `/entrypoint.sh db ...` then `... run`."""
    return standin(
        "plausible/analytics",
        "v2.0",
        port=8000,
        one_shot=("db",),
        paths={"entrypoint.sh": STANDIN},
    )


def airflow(version: str) -> SyntheticImage:
    """apache/airflow: airflow-init's `bash -c` prints the config and dags it was given."""
    return standin(
        "apache/airflow",
        version,
        shims=("curl", "airflow", "celery"),
        paths={
            "entrypoint": STANDIN,
            "bin/bash": SHOW_FILES.replace("{dirs}", AIRFLOW_FILES),
        },
    )


def standin_images() -> list[SyntheticImage]:
    """Every stand-in `lab up` pushes (the moved n8n:stable is pushed by its test)."""
    return [
        postgres("18"),
        postgres("14-alpine"),
        postgres("16"),
        redis("6-alpine"),
        redis("7-alpine"),
        redis("7.2-bookworm"),
        n8n(),
        standin("n8nio/runners", "stable"),
        standin("bytemark/smtp", "latest", port=25),
        standin("clickhouse/clickhouse-server", "23.3.7.5-alpine", shims=("clickhouse-client",)),
        plausible(),
        airflow("3.0.2"),
        airflow("3.0.3"),
    ]
