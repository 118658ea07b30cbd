"""Read both sides of a stack's diff: the live stack in one round trip (the host facts and the
live release's state), the next release's `compose config` in a temp dir on the host."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from dockyard.commands.compose import ENV_FILE
from dockyard.commands.facts import host_facts
from dockyard.compose.dotenv import DotenvError, parse
from dockyard.compose.envfile import render
from dockyard.deadline import Deadline
from dockyard.diff.compare import LiveService, Snapshot, StackDiff, compare
from dockyard.diff.remote import LIVE_MARK, live_state, temp_config
from dockyard.errors import DeployError
from dockyard.host.facts import FACTS_CAP, FactsError, HostFacts
from dockyard.host.facts import parse as parse_facts
from dockyard.images.errors import RegistryError
from dockyard.images.plan import (
    LocalImage,
    PlanPolicy,
    plan_pulls,
    runs_with,
    services_from_compose_json,
)
from dockyard.images.ref import ImageRef, InvalidImageRef, matches_local
from dockyard.images.registry import RegistryClient
from dockyard.pipeline.bundle import manifest
from dockyard.session import HostStack
from dockyard.ssh.errors import CommandFailed

PROJECT_DIR = "${PROJECT_DIR}"
CONFIG_CAP = 120.0


class DiffInputError(DeployError):
    """The next release cannot be resolved (compose rejects it): bad input, nothing changed."""


def stack_diff(hs: HostStack, deadline: Deadline) -> StackDiff:
    """What deploying this config's release changes for `hs`, for `dockyard diff`: the host
    facts and live state in one round trip, the release's `compose config` in a temp dir on
    the host (nothing under remote_dir is written; no lock is taken)."""
    facts, live = read_live(hs, deadline)
    return _diff(hs, facts, live, next_config(hs, deadline), deadline)


def planned_diff(
    hs: HostStack, facts: HostFacts, config: Mapping[str, Any], deadline: Deadline
) -> StackDiff:
    """The same diff inside a deploy, after its plan: the preflight's `facts`, the staged
    release's resolved `config`, and one read of the live state."""
    out = hs.runner.run(live_state(hs.project.state), deadline=deadline, cap=FACTS_CAP,
                        quiet=True)  # fmt: skip
    live = live_snapshot(facts, out.stdout, hs.project.state.remote_dir, hs.target.name)
    files_dir = hs.project.state.release_files(hs.loaded.release)
    return _diff(hs, facts, live, {"services": _services(json.dumps(config), files_dir)}, deadline)


def _diff(
    hs: HostStack, facts: HostFacts, live: Snapshot, config: Mapping[str, Any], deadline: Deadline
) -> StackDiff:
    jobs = {job.name: job.service for job in hs.stack.jobs}

    def active(services: Mapping[str, Any]) -> dict[str, Any]:
        return {n: s for n, s in services.items()
                if runs_with(s, hs.stack.profiles) or n in jobs.values()}  # fmt: skip

    live = dataclasses.replace(live, services=active(live.services))
    next_env = hs.stack.project_env()
    next_ = Snapshot(
        release=hs.loaded.release,
        services=active(config.get("services") or {}),
        images=next_images(hs, config, facts, deadline),
        env=next_env,
        files=bundle_files(hs),
    )
    return compare(hs.target.name, hs.stack.project, live, next_, jobs,
                   secret_keys(hs, live.env, next_env), reads(hs, next_.services))  # fmt: skip


def reads(hs: HostStack, services: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Service -> the project-relative paths it reads: its relative bind mounts and the files
    its restart rules watch."""
    found: dict[str, list[str]] = {}
    prefix = PROJECT_DIR + "/"
    for name, spec in services.items():
        for volume in spec.get("volumes") or ():
            source = str(volume.get("source") or "") if volume.get("type") == "bind" else ""
            if source.startswith(prefix):
                found.setdefault(name, []).append(source[len(prefix) :])
    for rule in hs.stack.restarts:
        found.setdefault(rule.service, []).extend(rule.files)
    return {name: tuple(paths) for name, paths in found.items()}


def read_live(hs: HostStack, deadline: Deadline) -> tuple[HostFacts, Snapshot]:
    """The host facts and the live snapshot, from one remote script."""
    script = host_facts(hs.stack.project, hs.project.state) + f"echo {LIVE_MARK}\n"
    script += live_state(hs.project.state)
    out = hs.runner.run(script, deadline=deadline, cap=FACTS_CAP, quiet=True)
    facts_text, _, live_text = out.stdout.partition(f"\n{LIVE_MARK}\n")
    facts = parse_facts(facts_text, hs.target.name)
    return facts, live_snapshot(facts, live_text, hs.project.state.remote_dir, hs.target.name)


def live_snapshot(facts: HostFacts, text: str, remote_dir: str, host: str) -> Snapshot:
    """The live side from the facts and live_state's output (`key value` lines)."""
    current, env_text, config_text, files = None, "", "", {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "current":
            current = value or None
        elif key == "env":
            env_text = _b64(value, host, "the live .env")
        elif key == "config":
            config_text = _b64(value, host, "the live release's compose config")
        elif key == "file" and len(value) > 66:
            files[value[66:]] = value[:64]
    files.pop(ENV_FILE, None)
    try:
        env = parse(env_text)
    except DotenvError as exc:
        raise FactsError(f"{host}: {remote_dir}/.env does not parse ({exc}); fix: deploy "
                         "again or repair it") from None  # fmt: skip
    files_dir = f"{remote_dir}/.dockyard/releases/{current}/files"
    services = _services(config_text, files_dir) if config_text else {}
    recorded = (facts.release_head or {}).get("services") or {}
    running, images = {}, {}
    for c in sorted(facts.containers, key=lambda c: c.state != "running"):
        if not c.service or c.one_off or c.service in running:
            continue
        hashed = recorded.get(c.service, {}).get("config_hash") if recorded else None
        up = c.state == "running" or (c.state == "exited" and c.exit_code == 0)
        images[c.service] = c.repo_digests[0] if c.repo_digests else c.image_id
        drifted = bool(hashed) and hashed != c.config_hash
        running[c.service] = LiveService(images[c.service], drifted, up)
    for name, spec in services.items():
        if name not in images and spec.get("image"):
            images[name] = _local_digest(str(spec["image"]), facts.images) or str(spec["image"])
    return Snapshot(current, services, images, env, files, running)


def _b64(value: str, host: str, what: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise FactsError(f"{host}: {what} did not come back as base64 text ({exc})") from None


def _services(config_text: str, project_dir: str) -> dict[str, Any]:
    """The services of a resolved config with `project_dir` written as ${PROJECT_DIR}."""
    text = config_text.replace(json.dumps(project_dir)[1:-1], PROJECT_DIR)
    return dict(json.loads(text).get("services") or {})


def next_config(hs: HostStack, deadline: Deadline) -> dict[str, Any]:
    """`compose config` of the next release (bundle + .env sent as a tar to a temp dir on the
    host, removed after), its project dir written as ${PROJECT_DIR}."""
    try:
        out = hs.runner.run(temp_config(hs.project), deadline=deadline, cap=CONFIG_CAP,
                            stdin=release_tar(hs), quiet=True)  # fmt: skip
    except CommandFailed as exc:
        raise DiffInputError(f"{hs.target.name}/{hs.stack.project}: docker compose rejected "
                             f"the stack: {hs.mask(exc.stderr_tail)}; fix the compose files or "
                             "the stack's env") from exc  # fmt: skip
    temp_dir, _, text = out.stdout.partition("\n")
    services = _services(text, temp_dir.strip())
    return {"services": services}


def release_tar(hs: HostStack) -> bytes:
    """The bundle's files and the release's .env (0600) as a tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for rel in manifest(hs.stack.bundle):
            if rel != ENV_FILE:
                tar.add(hs.stack.bundle / rel, arcname=rel, recursive=False)
        env = render(hs.stack.project_env())
        info = tarfile.TarInfo(ENV_FILE)
        info.size, info.mode = len(env), 0o600
        tar.addfile(info, io.BytesIO(env))
    return buf.getvalue()


def bundle_files(hs: HostStack) -> dict[str, str]:
    """Relative path -> sha256 of the bundle's files (the .env is diffed by key)."""
    return {rel: hashlib.sha256((hs.stack.bundle / rel).read_bytes()).hexdigest()
            for rel in manifest(hs.stack.bundle) if rel != ENV_FILE}  # fmt: skip


def next_images(
    hs: HostStack, config: Mapping[str, Any], facts: HostFacts, deadline: Deadline
) -> dict[str, str]:
    """Service -> the digest the next release runs: the plan's registry digest, else the
    pinned digest or the host's copy of the tag, else the registry's answer."""
    jobs = [job.service for job in hs.stack.jobs]
    services = services_from_compose_json(config, hs.stack.profiles, jobs)
    policy = PlanPolicy.from_config(hs.config, hs.stack.project)
    out = {}
    try:
        with RegistryClient.from_config(hs.config.images.registries, deadline=deadline) as reg:
            plan = plan_pulls(services, facts.images, reg.manifest_digest, policy)
            for d in plan.decisions:
                ref = ImageRef.parse(d.image)
                remote = d.registry_digest or ref.digest
                found = "" if remote else _local_digest(d.image, facts.images)
                if not remote and not found:
                    remote = reg.manifest_digest(ref)
                for service in d.services:
                    out[service] = found or f"{ref.name}@{remote}"
    except RegistryError as exc:
        hs.log(hs.mask(f"{hs.target.name}: image digests not all known: {exc}"))
    return out | {s: i for s, i in services.items() if s not in out}


def _local_digest(image: str, local: tuple[LocalImage, ...]) -> str:
    """The host's copy of `image`: its repo digest (of the same repository) or image id."""
    try:
        ref = ImageRef.parse(image)
    except InvalidImageRef:
        return ""
    found = next((i for i in local if matches_local(ref, i.repo_digests, i.repo_tags)), None)
    if found is None:
        return ""
    same = [d for d in found.repo_digests if d.partition("@")[0] == ref.name]
    return (same or list(found.repo_digests) or [found.id])[0]


def secret_keys(hs: HostStack, old: Mapping[str, str], new: Mapping[str, str]) -> frozenset[str]:
    """The env keys whose values are never shown: the stack's secrets and any value the
    config's masker hides."""
    keys = {k for k, v in hs.stack.env.items() if isinstance(v, SecretStr)}
    for env in (old, new):
        keys |= {k for k, v in env.items() if v and hs.mask(v) != v}
    return frozenset(keys)
