"""Parse, normalise and classify Docker image references (distribution/reference grammar)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from enum import StrEnum

from dockyard.images.floating import is_floating

DOCKER_HUB = "docker.io"
DOCKER_HUB_API_HOST = "registry-1.docker.io"
DEFAULT_TAG = "latest"
MAX_REPOSITORY_LENGTH = 255

_LEGACY_HUB = "index.docker.io"
_DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_OFFICIAL_PREFIX = "library/"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
)
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST_ALGORITHM = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*")
_LOWER_HEX = re.compile(r"[0-9a-f]+")
_IMAGE_ID = re.compile(r"[a-f0-9]{64}")


class InvalidImageRef(ValueError):
    """A string that is not an image reference Docker would accept."""

    def __init__(self, ref: str, reason: str) -> None:
        super().__init__(f"invalid image reference {ref!r}: {reason}")
        self.ref = ref
        self.reason = reason


class ImageKind(StrEnum):
    """How an image reference decides whether a pull is needed."""

    DIGEST = "digest"
    VERSION = "version"
    MUTABLE = "mutable"
    PER_DEPLOY = "per-deploy"


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A normalised image reference; build it with `ImageRef.parse`.

    `tag` is None only for a digest-only reference; a reference with neither tag nor digest
    gets tag "latest" with `tag_implicit` set.
    """

    registry: str
    repository: str
    tag: str | None
    digest: str | None = None
    tag_implicit: bool = False

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """Parse `text` the way Docker's ParseNormalizedNamed does, or raise InvalidImageRef."""
        if not text:
            raise InvalidImageRef(text, "empty reference")
        if _IMAGE_ID.fullmatch(text):
            raise InvalidImageRef(text, "64 hex characters is an image ID, not a repository name")
        registry, remainder = _split_registry(text)
        if not _DOMAIN.fullmatch(registry):
            raise InvalidImageRef(text, f"registry {registry!r} is not a valid host[:port]")
        name, at, digest = remainder.partition("@")
        path, colon, tag = name.partition(":")
        if reason := _path_problem(path) or (colon and _tag_problem(tag)):
            raise InvalidImageRef(text, reason)
        if at and (reason := _digest_problem(digest)):
            raise InvalidImageRef(text, reason)
        if registry == _LEGACY_HUB:
            registry = DOCKER_HUB
        if registry == DOCKER_HUB and "/" not in path:
            path = _OFFICIAL_PREFIX + path
        if len(path) > MAX_REPOSITORY_LENGTH:
            reason = f"repository {path!r} is longer than {MAX_REPOSITORY_LENGTH} characters"
            raise InvalidImageRef(text, reason)
        implicit = not colon and not at
        return cls(
            registry=registry,
            repository=path,
            tag=DEFAULT_TAG if implicit else tag or None,
            digest=digest or None,
            tag_implicit=implicit,
        )

    @property
    def name(self) -> str:
        """Fully qualified repository name, e.g. "docker.io/library/busybox"."""
        return f"{self.registry}/{self.repository}"

    @property
    def familiar_name(self) -> str:
        """Repository name as Docker shows it, e.g. "busybox" or "127.0.0.1:5000/app"."""
        if self.registry != DOCKER_HUB:
            return self.name
        short = self.repository.removeprefix(_OFFICIAL_PREFIX)
        return self.repository if "/" in short else short

    @property
    def familiar(self) -> str:
        """Short form as in RepoTags/RepoDigests, e.g. "busybox:latest", "app@sha256:..."."""
        return self.familiar_name + self._suffix(with_implicit_tag=True)

    @property
    def short(self) -> str:
        """Repository, tag and 12 hex of the digest, for step names: "app@sha256:1234abcd5678"."""
        text = self.repository.removeprefix(_OFFICIAL_PREFIX)
        if self.tag and not self.tag_implicit:
            text += f":{self.tag}"
        if self.digest:
            algorithm, _, hexpart = self.digest.partition(":")
            text += f"@{algorithm}:{hexpart[:12]}"
        return text

    @property
    def canonical(self) -> str:
        """Fully qualified reference that parses back to this value (implicit tag left out)."""
        return self.name + self._suffix(with_implicit_tag=False)

    @property
    def pull_ref(self) -> str:
        """What to pull: by digest when there is one, else by tag."""
        return f"{self.name}@{self.digest}" if self.digest else f"{self.name}:{self.tag}"

    @property
    def registry_api_host(self) -> str:
        """Host[:port] that serves the registry HTTP API for this reference."""
        return DOCKER_HUB_API_HOST if self.registry == DOCKER_HUB else self.registry

    def with_digest(self, digest: str) -> ImageRef:
        """This reference pinned to `digest`; an explicit tag is kept, an implicit one dropped."""
        if reason := _digest_problem(digest):
            raise InvalidImageRef(f"{self.name}@{digest}", reason)
        tag = None if self.tag_implicit else self.tag
        return replace(self, tag=tag, digest=digest, tag_implicit=False)

    def _suffix(self, *, with_implicit_tag: bool) -> str:
        show_tag = self.tag is not None and (with_implicit_tag or not self.tag_implicit)
        return (f":{self.tag}" if show_tag else "") + (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        return self.canonical


def _digest_problem(digest: str) -> str | None:
    """Why `digest` is not a digest Docker accepts (sha256/384/512, lowercase hex), or None."""
    algorithm, colon, hex_ = digest.partition(":")
    if not colon or not _DIGEST_ALGORITHM.fullmatch(algorithm):
        return f"digest {digest!r} is not of the form algorithm:hex"
    if (length := _DIGEST_HEX_LENGTHS.get(algorithm)) is None:
        return f"unsupported digest algorithm {algorithm!r} (expected sha256, sha384 or sha512)"
    if len(hex_) != length:
        return f"{algorithm} digest needs {length} hex characters, got {len(hex_)}"
    if not _LOWER_HEX.fullmatch(hex_):
        return f"digest {digest!r} must be lowercase hex"
    return None


def classify(
    ref: ImageRef, *, per_deploy: bool = False, moving_tags: Iterable[str] = ()
) -> ImageKind:
    """Pull kind of `ref`: a floating tag (dockyard.images.floating, plus `moving_tags` from the
    config) is MUTABLE, an implicit tag being "latest"."""
    if isinstance(moving_tags, str):
        raise TypeError("moving_tags must be a collection of tags, not a single string")
    if per_deploy:
        return ImageKind.PER_DEPLOY
    if ref.digest is not None:
        return ImageKind.DIGEST
    if ref.tag_implicit or is_floating(ref.tag, moving_tags):
        return ImageKind.MUTABLE
    return ImageKind.VERSION


def matches_local(ref: ImageRef, repo_digests: Iterable[str], repo_tags: Iterable[str]) -> bool:
    """Whether a local image with these RepoDigests/RepoTags satisfies `ref`.

    A digest-pinned reference needs the same repository at the same digest in RepoDigests;
    otherwise the same repository and tag in RepoTags. Unparseable entries ("<none>@<none>")
    are ignored.
    """
    if ref.digest is not None:
        return any(
            (local.name, local.digest) == (ref.name, ref.digest) for local in _parsed(repo_digests)
        )
    return any((local.name, local.tag) == (ref.name, ref.tag) for local in _parsed(repo_tags))


def _parsed(texts: Iterable[str]) -> Iterator[ImageRef]:
    for text in texts:
        try:
            yield ImageRef.parse(text)
        except InvalidImageRef:
            continue


def _split_registry(text: str) -> tuple[str, str]:
    """Split off the registry as Docker's splitDockerDomain decides it (docker.io if none)."""
    first, slash, rest = text.partition("/")
    is_domain = first == "localhost" or "." in first or ":" in first or first != first.lower()
    return (first, rest) if slash and is_domain else (DOCKER_HUB, text)


def _path_problem(path: str) -> str | None:
    if not path:
        return "repository name is missing"
    if path != path.lower():
        return f"repository {path!r} must be lowercase"
    if not _PATH.fullmatch(path):
        return (
            f"repository {path!r} is not valid: components separated by '/' are lowercase"
            " letters and digits joined by '.', '_', '__' or dashes"
        )
    return None


def _tag_problem(tag: str) -> str | None:
    if not tag:
        return "tag after ':' is empty"
    if len(tag) > 128:
        return f"tag is {len(tag)} characters long, at most 128 are allowed"
    if not _TAG.fullmatch(tag):
        return f"tag {tag!r} is not valid: letters, digits, '_', '.' and '-', not first '.' or '-'"
    return None
