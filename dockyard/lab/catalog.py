"""The synthetic images the lab pushes: stand-ins for the incident stack's services."""

from __future__ import annotations

from dockyard.lab.images import RandomLayer, SyntheticImage
from dockyard.lab.standins import standin_images

MB = 1024 * 1024

SERVE = """#!/bin/sh
# serve /www on $PORT: /version always, /health only while HEALTHY=1; stop at once on TERM
mkdir -p /www
echo "$IMAGE_VERSION" > /www/version
if [ "${HEALTHY:-1}" = 1 ]; then echo ok > /www/health; fi
httpd -f -p "${PORT:-8080}" -h /www &
pid=$!
trap 'kill $pid; exit 0' TERM INT
wait $pid
"""

MIGRATE = """#!/bin/sh
# a migration job: fails while /gate/fail exists, else appends to /data/migrations.log
if [ -e /gate/fail ]; then
  echo "migration $IMAGE_VERSION failed: /gate/fail is present" >&2
  exit 1
fi
echo "applied $IMAGE_VERSION" >> /data/migrations.log
echo "migrations applied: $IMAGE_VERSION"
"""

APP_DEPS = RandomLayer("app-deps", 24 * MB)


def app(version: str, *, healthy: bool = True) -> SyntheticImage:
    """The per-deploy app: shared deps layer plus one layer of its own."""
    return SyntheticImage(
        "dockyard/app",
        version,
        layers=(APP_DEPS, RandomLayer(f"app-{version}", 6 * MB)),
        files={"entry.sh": SERVE},
        env={"IMAGE_VERSION": version, "HEALTHY": "1" if healthy else "0"},
    )


def migrator(version: str) -> SyntheticImage:
    """The per-deploy migration job image."""
    return SyntheticImage(
        "dockyard/migrator",
        version,
        layers=(RandomLayer(f"migrator-{version}", 4 * MB),),
        files={"migrate.sh": MIGRATE},
        cmd=("/bin/sh", "/srv/migrate.sh"),
        env={"IMAGE_VERSION": version},
    )


def service(
    repo: str, tag: str | None, size_mb: float, *, registry: str = "plain"
) -> SyntheticImage:
    """A small always-healthy HTTP service standing in for postgres, redis, nginx and friends."""
    return SyntheticImage(
        f"dockyard/{repo}",
        tag,
        layers=(RandomLayer(f"{repo}-{tag}", int(size_mb * MB)),),
        files={"entry.sh": SERVE},
        env={"IMAGE_VERSION": f"{repo}-{tag or 'untagged'}"},
        registry=registry,
    )


def lab_images() -> list[SyntheticImage]:
    """Everything `lab up` pushes, in push order."""
    return [
        app("v1"),
        app("v2"),
        app("v3"),
        app("broken", healthy=False),
        migrator("v1"),
        migrator("v2"),
        migrator("v3"),
        service("postgres", "15", 3),
        service("redis", "7.2", 2),
        service("nginx", "1.25", 2),
        service("gateway", "2.4", 2),
        service("autoheal", "latest", 1),
        service("busybox", "latest", 1),
        service("metrics", "2.0", 1),
        service("worker", "1.0", 2, registry="auth"),
        *standin_images(),
    ]
