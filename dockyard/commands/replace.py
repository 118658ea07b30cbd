"""Commands of a start-first replacement: a service's containers and target hash, one more
container beside the old, the wait for its health, drain and removal of an old one."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from dockyard.commands.compose import ComposeProject
from dockyard.commands.shell import quote

HEALTHY, UNHEALTHY, TIMED_OUT, NO_HEALTHCHECK, GONE = 0, 1, 2, 4, 5
"""Exit statuses of wait_healthy."""

CONTAINER_FIELDS = (
    '{{.Id}} {{index .Config.Labels "com.docker.compose.container-number"}} '
    '{{index .Config.Labels "com.docker.compose.config-hash"}} {{.Image}} {{.State.Status}} '
    '{{if index .State "Health"}}{{.State.Health.Status}}{{else}}none{{end}}'
)


def service_state(project: ComposeProject, service: str, image: str) -> str:
    """Print `hash <service> <config hash>` (compose's, for the project directory's files),
    `image <id>` of the service's image (`-` if the engine has none) and `ctr <id> <number>
    <config hash> <image id> <status> <health>` per container of the service (one-offs left
    out). A container removed while it is listed is left out."""
    labels = (
        f"label=com.docker.compose.project={project.project}",
        f"label=com.docker.compose.service={service}",
        "label=com.docker.compose.oneoff=False",
    )
    filters = " ".join(f"--filter {quote(f)}" for f in labels)
    config_hash = shlex.join([*project.base(), "config", "--hash", service])
    return (
        f'h=$({config_hash}) || exit 1; echo "hash $h"; '
        f"echo \"image $(docker image inspect --format '{{{{.Id}}}}' {quote(image)} 2>/dev/null "
        '|| echo -)"; '
        f"docker ps --all --quiet --no-trunc {filters} | while read -r c; do "
        f'docker inspect --format {quote("ctr " + CONTAINER_FIELDS)} "$c" 2>/dev/null; done; true'
    )


def scale_up(project: ComposeProject, service: str, count: int) -> list[str]:
    """Start `service`'s containers up to `count` from the project directory's files, keeping
    the ones that exist (`--no-recreate`) and leaving its dependencies as they are."""
    argv = project.up(wait_timeout=None, remove_orphans=False, no_recreate=True, no_deps=True)
    return [*argv, "--scale", f"{service}={count}", service]


def wait_healthy(container: str, seconds: float) -> str:
    """Poll the container's health every 0.2 s on the host for at most `seconds`: exit
    HEALTHY, UNHEALTHY (or it stopped), TIMED_OUT, NO_HEALTHCHECK or GONE."""
    tries = max(1, int(seconds * 5))
    fmt = quote(
        '{{.State.Status}} {{if index .State "Health"}}{{.State.Health.Status}}{{else}}none{{end}}'
    )
    return (
        f"i=0; while :; do s=$(docker inspect --format {fmt} {quote(container)}) || exit {GONE}; "
        f'case "$s" in "running healthy") exit {HEALTHY};; "running none") exit {NO_HEALTHCHECK};; '
        f'"running "*) ;; *) exit {UNHEALTHY};; esac; case "$s" in *unhealthy) exit {UNHEALTHY};; '
        f"esac; [ $i -ge {tries} ] && exit {TIMED_OUT}; i=$((i+1)); sleep 0.2; done"
    )


def failure_report(container: str, tail: int = 30) -> str:
    """The container's health log (JSON) and the tail of its log, for the error of a failed
    replacement."""
    c = quote(container)
    return (
        f"docker inspect --format '{{{{json .State.Health}}}}' {c} 2>&1; echo; "
        f"echo '--- log tail'; docker logs --tail {tail} {c} 2>&1; true"
    )


def remove(container: str) -> list[str]:
    """Remove a container at once (a new one that failed, or a leftover)."""
    return ["docker", "rm", "--force", container]


def drain(container: str, pre_stop: Sequence[str], seconds: float, stop_timeout: int = 10) -> str:
    """Run `pre_stop` in the old container (its failure is reported on stderr, not fatal), wait
    `seconds` for requests in flight, then stop and remove it."""
    c = quote(container)
    steps = []
    if pre_stop:
        steps.append(f"docker exec {c} {shlex.join(pre_stop)} >/dev/null 2>&1 || "
                     "echo 'pre_stop failed' >&2")  # fmt: skip
    if seconds > 0:
        steps.append(f"sleep {seconds:g}")
    steps.append(f"docker stop --time {stop_timeout} {c} >/dev/null && docker rm {c} >/dev/null")
    return "; ".join(steps)


def addresses(container: str) -> list[str]:
    """Print `<network> <ip>` per network the container is attached to."""
    fmt = "{{range $n, $e := .NetworkSettings.Networks}}{{$n}} {{$e.IPAddress}}\n{{end}}"
    return ["docker", "inspect", "--format", fmt, container]
