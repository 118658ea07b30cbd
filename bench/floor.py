"""What a deploy has to move at least: the blobs of the images it needs that the engine lacks.
Layer presence is decided as the engine does, by chain ID, so layers the engine holds under
other image names count as present."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from bench.workspace import REGISTRY

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


@dataclass(frozen=True)
class EngineContent:
    """Image IDs and layer chain IDs present on the engine (under any name)."""

    image_ids: frozenset[str]
    chain_ids: frozenset[str]


@dataclass(frozen=True)
class ImageBlobs:
    """An image's config blob (digest = image ID) and its layers with their chain IDs."""

    config_digest: str
    config_size: int
    layers: tuple[tuple[str, int, str], ...]  # (blob digest, size, chain ID)


def chain_ids(diff_ids: Iterable[str]) -> list[str]:
    """Docker's layer chain IDs for a list of diff IDs (sha256 of 'parent child')."""
    chains: list[str] = []
    for diff_id in diff_ids:
        if not chains:
            chains.append(diff_id)
        else:
            text = f"{chains[-1]} {diff_id}".encode()
            chains.append("sha256:" + hashlib.sha256(text).hexdigest())
    return chains


class RegistrySizes:
    """Blob sizes and layer chains of images under our registry name, read from the registry's
    direct port (not through the bench proxy, so the counters stay clean)."""

    def __init__(self, direct_port: int) -> None:
        self._client = httpx.Client(base_url=f"http://127.0.0.1:{direct_port}", timeout=10)
        self._cache: dict[str, ImageBlobs] = {}

    def __enter__(self) -> RegistrySizes:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._client.close()

    def image(self, ref: str) -> ImageBlobs:
        if ref not in self._cache:
            repo, reference = _split(ref)
            manifest = self._get(f"/v2/{repo}/manifests/{reference}", MANIFEST_TYPES)
            if "manifests" in manifest:  # an index: take linux/amd64, else the first
                chosen = next(
                    (m for m in manifest["manifests"]
                     if m.get("platform", {}).get("architecture") == "amd64"),
                    manifest["manifests"][0],
                )  # fmt: skip
                manifest = self._get(f"/v2/{repo}/manifests/{chosen['digest']}", MANIFEST_TYPES)
            config = manifest["config"]
            diff_ids = self._get(f"/v2/{repo}/blobs/{config['digest']}")["rootfs"]["diff_ids"]
            layers = tuple(
                (layer["digest"], int(layer["size"]), chain)
                for layer, chain in zip(manifest["layers"], chain_ids(diff_ids), strict=True)
            )
            self._cache[ref] = ImageBlobs(config["digest"], int(config["size"]), layers)
        return self._cache[ref]

    def needed_bytes(self, wanted: list[str], engine: EngineContent) -> int:
        """Bytes of the config blobs of images the engine lacks and of the layers whose chain
        it lacks, each blob counted once."""
        need: dict[str, int] = {}
        for ref in wanted:
            blobs = self.image(ref)
            if blobs.config_digest not in engine.image_ids:
                need[blobs.config_digest] = blobs.config_size
            for digest, size, chain in blobs.layers:
                if chain not in engine.chain_ids:
                    need[digest] = size
        return sum(need.values())

    def _get(self, path: str, accept: str = "*/*") -> dict[str, Any]:
        response = self._client.get(path, headers={"Accept": accept})
        response.raise_for_status()
        return response.json()


def _split(ref: str) -> tuple[str, str]:
    """('dockyard/app', 'v1') from '127.0.0.1:5100/dockyard/app:v1' (digest wins over tag)."""
    if not ref.startswith(f"{REGISTRY}/"):
        raise ValueError(f"{ref} is not under {REGISTRY}")
    rest = ref.removeprefix(f"{REGISTRY}/")
    if "@" in rest:
        name, digest = rest.split("@", 1)
        return name.rsplit(":", 1)[0] if ":" in name else name, digest
    if ":" in rest:
        name, tag = rest.rsplit(":", 1)
        return name, tag
    return rest, "latest"
