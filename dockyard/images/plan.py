"""The pull plan: per image skip, pull or verify, decided from compose, local images, registry."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Literal

from dockyard.config import DeployConfig
from dockyard.errors import DeployError
from dockyard.images.ref import ImageKind, ImageRef, InvalidImageRef, classify, matches_local

Action = Literal["skip", "pull", "verify"]
Override = Literal["always", "missing", "changed", "never"]
DigestSource = Callable[[ImageRef], str] | Mapping[str, str]
_Key = tuple[str, str | None, str | None]
LocalImages = Mapping[str, "LocalImage | None"] | Iterable["LocalImage"]

_ALL_PROFILES = "*"
_IMAGE_FIX = (
    "; nothing was changed on the host; fix the image: value or the variable that sets it"
    " (the bundle's .env, stacks[].env, --set); `dockyard lint -c` shows where"
)


class PlanInputError(DeployError, ValueError):
    """The plan's inputs are inconsistent: a bad image, an unknown service, a missing digest."""


class _Policy(IntEnum):
    """Pull policies ordered by how much they demand; services sharing an image get the max."""

    NEVER = 0
    MISSING = 1
    CHANGED = 2
    ALWAYS = 3


@dataclass(frozen=True)
class LocalImage:
    """An image on the target engine, as `docker image inspect` shows it."""

    id: str
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()

    @classmethod
    def from_inspect(cls, attrs: Mapping[str, Any]) -> LocalImage:
        """From the inspect JSON (Id, RepoTags, RepoDigests; null lists become empty)."""
        return cls(
            id=str(attrs["Id"]),
            repo_tags=tuple(attrs.get("RepoTags") or ()),
            repo_digests=tuple(attrs.get("RepoDigests") or ()),
        )


@dataclass(frozen=True)
class PlanPolicy:
    """What decides pulls besides the images: per-deploy refs, moving tags, service overrides."""

    per_deploy: Collection[str] = ()
    moving_tags: Collection[str] = ()
    overrides: Mapping[str, Override] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: DeployConfig, project: str) -> PlanPolicy:
        """The policy of one stack of a loaded deploy.yaml."""
        return cls(
            per_deploy=frozenset(p.ref for p in config.per_deploy_images(project)),
            moving_tags=frozenset(config.images.moving_tags),
            overrides={name: s.pull for name, s in config.images.services.items()},
        )


@dataclass(frozen=True)
class ImageDecision:
    """What to do with one image, for every service that uses it, and why.

    `pull_ref` is what to pull; when it is a digest and the stack names a tag, `tag_as` is the
    tag to give the pulled image so that compose finds it. `registry_digest` is set when the
    registry was asked. `verify` says the image must be confirmed in its registry before the
    host is changed.
    """

    services: tuple[str, ...]
    image: str
    kind: ImageKind
    action: Action
    reason: str
    pull_ref: str
    registry_digest: str | None = None
    tag_as: str | None = None
    verify: bool = False

    @property
    def service(self) -> str:
        """The services using this image, comma-separated."""
        return ", ".join(self.services)

    @property
    def ref(self) -> ImageRef:
        return ImageRef.parse(self.image)

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "services": list(self.services),
            "image": self.image,
            "kind": self.kind.value,
            "action": self.action,
            "reason": self.reason,
            "pull_ref": self.pull_ref,
            "registry_digest": self.registry_digest,
            "tag_as": self.tag_as,
            "verify": self.verify,
        }


@dataclass(frozen=True)
class PullPlan:
    """One decision per distinct image, in the order the services first name them."""

    decisions: tuple[ImageDecision, ...]

    def to_pull(self) -> tuple[ImageDecision, ...]:
        return tuple(d for d in self.decisions if d.action == "pull")

    def to_verify(self) -> tuple[ImageDecision, ...]:
        """Images to confirm in their registry before the host is touched: per-deploy or pulled."""
        return tuple(d for d in self.decisions if d.verify)

    def to_json(self) -> list[dict[str, Any]]:
        return [d.to_json() for d in self.decisions]


def runs_with(service: Mapping[str, Any], active_profiles: Collection[str]) -> bool:
    """Whether a service of the resolved compose config runs with these profiles active: one
    without profiles always does; one with profiles if any is active ("*" activates all)."""
    profiles = set(service.get("profiles") or ())
    active = set(active_profiles)
    return not profiles or _ALL_PROFILES in active or bool(profiles & active)


def services_from_compose_json(
    data: Mapping[str, Any] | str | bytes,
    active_profiles: Collection[str] = (),
    extra_services: Iterable[str] = (),
) -> dict[str, str]:
    """Service -> image of the services that will run, from `docker compose config --format json`.

    A service without profiles always runs; one with profiles runs if any is active ("*"
    activates all); `extra_services` (job services run explicitly) run whatever their
    profiles. Resolve with `--profile '*'` so that services of inactive profiles are in
    `data`. Services without an image (build only) are left out.
    """
    parsed = json.loads(data) if isinstance(data, str | bytes) else data
    services = parsed.get("services") if isinstance(parsed, Mapping) else None
    if not isinstance(services, Mapping):
        raise PlanInputError("the compose config has no services mapping")
    extra = set(extra_services)
    if unknown := sorted(extra - set(services)):
        raise PlanInputError(
            f"service(s) {', '.join(unknown)} not in the compose config"
            " (resolve it with --profile '*' so that every profile's services are listed)"
        )
    result = {}
    for name, spec in services.items():
        if (runs_with(spec, active_profiles) or name in extra) and spec.get("image"):
            result[name] = str(spec["image"])
            _parse(result[name], f"service {name}: image {result[name]!r}", _IMAGE_FIX)
    return result


def plan_pulls(
    services: Mapping[str, str],
    local: LocalImages,
    registry_digest: DigestSource,
    policy: PlanPolicy | None = None,
) -> PullPlan:
    """Decide, per distinct image of `services` (service -> image), whether to pull it.

    `local` is either image -> LocalImage (None when absent), as `docker image inspect` of
    each image answers, or every local image. `registry_digest` gives the registry's digest
    of a reference (e.g. RegistryClient.manifest_digest, whose errors pass through) or maps
    image strings to digests. It is asked once per image, and only where the policy needs it.
    """
    policy = policy or PlanPolicy()
    per_deploy = {_key(_parse(ref, "per-deploy image")) for ref in policy.per_deploy}
    find_local = _local_finder(local)
    digest_of = _digest_source(registry_digest)
    groups: dict[_Key, list[tuple[str, str, ImageRef]]] = {}
    for service, image in services.items():
        ref = _parse(image, f"service {service}")
        groups.setdefault(_key(ref), []).append((service, image, ref))
    decisions = []
    for key, members in groups.items():
        ref = members[0][2]
        kind = classify(ref, per_deploy=key in per_deploy, moving_tags=policy.moving_tags)
        names = tuple(service for service, _, _ in members)
        default = _default_policy(ref, policy.moving_tags)
        chosen, owner = _combined_policy(names, default, policy.overrides)
        partial = _Partial(names, members[0][1], kind, ref.pull_ref)
        decisions.append(_decide(partial, ref, chosen, owner, find_local(ref), digest_of))
    return PullPlan(tuple(decisions))


def _default_policy(ref: ImageRef, moving_tags: Collection[str]) -> _Policy:
    """Moving tags (per-deploy ones too) are compared with the registry; the rest pull if absent."""
    if ref.digest is None and classify(ref, moving_tags=moving_tags) is ImageKind.MUTABLE:
        return _Policy.CHANGED
    return _Policy.MISSING


def _combined_policy(
    services: tuple[str, ...], default: _Policy, overrides: Mapping[str, Override]
) -> tuple[_Policy, str | None]:
    """The most demanding policy among the services sharing an image, and whose override it is."""
    chosen: list[tuple[_Policy, str | None]] = [
        (default, None) for s in services if s not in overrides
    ]
    chosen += [(_Policy[overrides[s].upper()], s) for s in services if s in overrides]
    return max(chosen, key=lambda item: item[0])


def _decide(
    partial: _Partial,
    ref: ImageRef,
    policy: _Policy,
    owner: str | None,
    local: LocalImage | None,
    digest_of: Callable[[ImageRef], str],
) -> ImageDecision:
    override = f"pull: {policy.name.lower()} (override for service {owner})" if owner else ""
    note = f" [{override}]" if override else ""
    per_deploy = partial.kind is ImageKind.PER_DEPLOY
    if policy is _Policy.NEVER:
        state = "present" if local else "absent; compose up fails unless the image is loaded"
        return partial.make("skip", f"{override}; {state}")
    if policy is _Policy.ALWAYS:
        return partial.make("pull", override, verify=True)
    if policy is _Policy.CHANGED and ref.digest is None:
        return _changed(partial, ref, local, digest_of(ref), note, verify=per_deploy)
    if local is None:
        digest = digest_of(ref) if per_deploy else None
        found = f"; exists in the registry ({_short(digest)})" if digest else ""
        return partial.make("pull", f"absent{found}{note}", digest, verify=True)
    if per_deploy:
        digest = digest_of(ref)
        reason = f"present; exists in the registry ({_short(digest)}); nothing to download"
        return partial.make("verify", reason + note, digest, verify=True)
    if ref.digest is not None:
        return partial.make("skip", f"present (pinned digest){note}")
    kind = "version tag" if partial.kind is ImageKind.VERSION else "tag"
    return partial.make("skip", f"present ({kind} {ref.tag}){note}")


def _changed(
    partial: _Partial,
    ref: ImageRef,
    local: LocalImage | None,
    digest: str,
    note: str,
    *,
    verify: bool,
) -> ImageDecision:
    """A tag that moves: pull by the registry's digest unless the local image already has it."""
    pull = {"registry_digest": digest, "tag_as": f"{ref.name}:{ref.tag}", "verify": True}
    pull_ref = f"{ref.name}@{digest}"
    if local is None:
        reason = f"absent; pull registry digest {_short(digest)}"
        return partial.make("pull", reason + note, pull_ref=pull_ref, **pull)
    mine = sorted(d.digest for d in _parsed(local.repo_digests) if d.name == ref.name and d.digest)
    if digest in mine:
        action: Action = "verify" if verify else "skip"
        reason = f"unchanged at registry ({_short(digest)})"
        return partial.make(action, reason + note, digest, verify=verify)
    if mine:
        reason = f"registry digest {_short(digest)} differs from local {_short(mine[0])}"
    else:
        reason = f"local image has no digest from {ref.name}; registry has {_short(digest)}"
    return partial.make("pull", reason + note, pull_ref=pull_ref, **pull)


@dataclass(frozen=True)
class _Partial:
    """The fields every decision for one image shares."""

    services: tuple[str, ...]
    image: str
    kind: ImageKind
    pull_ref: str

    def make(
        self,
        action: Action,
        reason: str,
        registry_digest: str | None = None,
        tag_as: str | None = None,
        pull_ref: str | None = None,
        *,
        verify: bool = False,
    ) -> ImageDecision:
        return ImageDecision(
            services=self.services,
            image=self.image,
            kind=self.kind,
            action=action,
            reason=reason,
            pull_ref=pull_ref or self.pull_ref,
            registry_digest=registry_digest,
            tag_as=tag_as,
            verify=verify,
        )


def _local_finder(local: LocalImages) -> Callable[[ImageRef], LocalImage | None]:
    if isinstance(local, Mapping):
        by_key = {
            _key(_parse(text, "local image")): image
            for text, image in local.items()
            if image is not None
        }
        return lambda ref: by_key.get(_key(ref))
    images = list(local)
    return lambda ref: next(
        (i for i in images if matches_local(ref, i.repo_digests, i.repo_tags)), None
    )


def _digest_source(source: DigestSource) -> Callable[[ImageRef], str]:
    if callable(source):
        return source
    by_key = {_key(_parse(text, "registry digest")): digest for text, digest in source.items()}

    def lookup(ref: ImageRef) -> str:
        try:
            return by_key[_key(ref)]
        except KeyError:
            raise PlanInputError(f"no registry digest was given for {ref.familiar}") from None

    return lookup


def _key(ref: ImageRef) -> _Key:
    """Identity for dedupe: `busybox` and `docker.io/library/busybox:latest` are one image."""
    return (ref.name, ref.tag, ref.digest)


def _parse(text: str, where: str, fix: str = "") -> ImageRef:
    try:
        return ImageRef.parse(text)
    except InvalidImageRef as exc:
        raise PlanInputError(f"{where}: {exc}{fix}") from exc


def _parsed(texts: Iterable[str]) -> Iterable[ImageRef]:
    for text in texts:
        try:
            yield ImageRef.parse(text)
        except InvalidImageRef:
            continue


def _short(digest: str | None) -> str:
    """ "sha256:0123456789ab…" for reasons."""
    if digest is None:
        return "?"
    algorithm, _, hex_ = digest.partition(":")
    return f"{algorithm}:{hex_[:12]}…"
