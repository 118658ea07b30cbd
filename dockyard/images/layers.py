"""Bytes a pull fetched, from the engine's view: the compressed sizes (distribution manifest) of
the layers the engine did not have before, whoever fetched them (the detached CLI pull or the
API pull), each layer counted once per host even when concurrent pulls share it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.images.errors import RegistryError

OPEN_PULL_TTL = 3600.0


@dataclass(frozen=True)
class Blob:
    """A content-addressed blob of a manifest: digest and (compressed) size."""

    digest: str
    size: int


@dataclass(frozen=True)
class Platform:
    """What an index entry must match: the pulled image's os, architecture and variant."""

    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def from_inspect(cls, attrs: Mapping[str, Any]) -> Platform:
        """From `docker image inspect` (Os, Architecture, Variant)."""
        return cls(
            str(attrs.get("Os") or "linux"),
            str(attrs.get("Architecture") or "amd64"),
            str(attrs.get("Variant") or ""),
        )


@dataclass(frozen=True)
class ImageManifest:
    """An image manifest: its config blob and its layers in order (the RootFS order)."""

    config: Blob
    layers: tuple[Blob, ...]

    @classmethod
    def from_json(cls, document: Mapping[str, Any], image: str) -> ImageManifest:
        """Parse a manifest document; raise RegistryError naming `image` if it has no layers."""
        try:
            config = _blob(document["config"])
            layers = tuple(_blob(layer) for layer in document["layers"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RegistryError(
                f"the registry's manifest of {image} has no config or layers list ({exc!r});"
                " it is not an image manifest",
                image=image,
            ) from exc
        return cls(config, layers)


def index_entry(index: Mapping[str, Any], platform: Platform, image: str) -> str:
    """The digest of the index entry for `platform`; RegistryError naming `image` if none."""
    entries = [e for e in index.get("manifests") or () if isinstance(e, Mapping)]
    for entry in entries:
        plat = entry.get("platform") or {}
        if (plat.get("os"), plat.get("architecture")) != (platform.os, platform.architecture):
            continue
        if platform.variant and plat.get("variant") not in (None, platform.variant):
            continue
        return str(entry["digest"])
    raise RegistryError(
        f"the registry's index of {image} has no manifest for {platform.os}/"
        f"{platform.architecture}; push that platform or pin an image of it",
        image=image,
    )


@dataclass(frozen=True)
class EngineLayers:
    """What an engine holds: image IDs and the layer diff_ids of every image."""

    image_ids: frozenset[str]
    diff_ids: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> EngineLayers:
        """From the snapshot script's lines: `<image id> <diff_id> <diff_id> ...`."""
        ids: set[str] = set()
        layers: set[str] = set()
        for line in text.splitlines():
            if fields := line.split():
                ids.add(fields[0])
                layers.update(fields[1:])
        return cls(frozenset(ids), frozenset(layers))


def new_blobs(
    manifest: ImageManifest, image_id: str, diff_ids: Iterable[str], before: EngineLayers
) -> dict[str, int]:
    """Blob -> compressed size of what the engine had to fetch for this image: its config unless
    the image was there, and each layer whose diff_id was not. Keyed by diff_id (the config by
    the image ID), so images sharing a layer name it alike."""
    ids = list(diff_ids)
    if len(ids) != len(manifest.layers):
        raise RegistryError(
            f"image {image_id}: the engine shows {len(ids)} layers, the registry's manifest"
            f" {len(manifest.layers)}; its bytes cannot be counted"
        )
    fetched = {} if image_id in before.image_ids else {image_id: manifest.config.size}
    for diff_id, layer in zip(ids, manifest.layers, strict=True):
        if diff_id not in before.diff_ids:
            fetched[diff_id] = layer.size
    return fetched


class LayerLedger:
    """Per host: the engine's layers before each pull, and the blobs pulls have counted.

    `before(host, image, take)` remembers the first snapshot of an image's pull until the pull
    is settled, so a retry still counts what an earlier attempt (or its detached pull) fetched.
    `settle(...)` counts a blob only if no pull on that host that ended after this one's
    snapshot counted it already: concurrent pulls of images sharing a layer count it once."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str], tuple[float, EngineLayers]] = {}
        self._counted: dict[str, list[tuple[float, frozenset[str]]]] = {}

    def before(self, host: str, image: str, take: Callable[[], EngineLayers]) -> EngineLayers:
        now = self._clock()
        with self._lock:
            found = self._open.get((host, image))
        if found is not None and now - found[0] < OPEN_PULL_TTL:
            return found[1]
        snapshot = take()
        with self._lock:
            self._open[(host, image)] = (now, snapshot)
        return snapshot

    def settle(self, host: str, image: str, fetched: Mapping[str, int]) -> dict[str, int]:
        """The blobs of `fetched` this pull is the first to count; closes the image's pull."""
        now = self._clock()
        with self._lock:
            started, _ = self._open.pop((host, image), (now, None))
            history = self._counted.setdefault(host, [])
            taken = set().union(*(blobs for ended, blobs in history if ended >= started))
            mine = {blob: size for blob, size in fetched.items() if blob not in taken}
            history.append((now, frozenset(mine)))
            oldest = min((t for t, _ in self._open.values()), default=now)
            self._counted[host] = [(t, b) for t, b in history if t >= oldest]
        return mine


def _blob(entry: Mapping[str, Any]) -> Blob:
    return Blob(str(entry["digest"]), int(entry["size"]))


LEDGER = LayerLedger()
