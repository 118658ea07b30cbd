"""Build deterministic synthetic OCI images from busybox-static and push them to a registry."""

from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import httpx

BUSYBOX = Path("/usr/bin/busybox")
APPLETS = ("sh", "httpd", "wget", "cat", "echo", "sleep", "ls", "date", "mkdir", "rm", "touch")
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class ImagePushError(RuntimeError):
    """The registry refused an upload of a synthetic image."""


@dataclass(frozen=True)
class RandomLayer:
    """A layer holding one file of `size` pseudo-random bytes fixed by `seed`."""

    seed: str
    size: int


@dataclass(frozen=True)
class SyntheticImage:
    """An image: busybox base, random layers, a small files layer, a command.

    `files` land in /srv (mode 0755); `paths` are files at absolute paths (mode 0755, parent
    directories created), such as an entrypoint or a healthcheck shim in /usr/local/bin;
    `host_files` are files of this machine copied to absolute paths (a binary, its libraries)."""

    repository: str
    tag: str | None
    layers: tuple[RandomLayer, ...] = ()
    files: Mapping[str, str] = field(default_factory=dict)
    cmd: tuple[str, ...] = ("/bin/sh", "/srv/entry.sh")
    env: Mapping[str, str] = field(default_factory=dict)
    registry: str = "plain"
    entrypoint: tuple[str, ...] = ()
    paths: Mapping[str, str] = field(default_factory=dict)
    host_files: Mapping[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class Blob:
    """Content-addressed bytes with their media type."""

    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    def descriptor(self) -> dict[str, object]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}


@dataclass(frozen=True)
class BuiltImage:
    """The blobs of one image and its manifest, ready to push."""

    spec: SyntheticImage
    layers: tuple[Blob, ...]
    config: Blob
    manifest: Blob

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def size(self) -> int:
        """Bytes a pull of this image moves (layers + config), all uncompressed here."""
        return sum(len(b.data) for b in self.layers) + len(self.config.data)


def _tar(entries: list[tuple[str, bytes | None, int]]) -> bytes:
    """A reproducible tar: (path, data or None for a directory or symlink target, mode)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path, data, mode in entries:
            info = tarfile.TarInfo(path)
            info.mtime = 0
            info.mode = mode
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif mode == 0o777:
                info.type = tarfile.SYMTYPE
                info.linkname = data.decode()
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@cache
def base_layer() -> Blob:
    """busybox-static with its applets and the directories a container needs."""
    entries: list[tuple[str, bytes | None, int]] = [
        (d, None, 0o755) for d in ("bin", "etc", "srv", "tmp", "www", "data", "gate")
    ]
    entries.append(("bin/busybox", BUSYBOX.read_bytes(), 0o755))
    entries += [(f"bin/{a}", b"busybox", 0o777) for a in APPLETS]
    entries.append(("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644))
    entries.append(("etc/group", b"root:x:0:\n", 0o644))
    return Blob(LAYER_TYPE, _tar(entries))


@cache
def random_layer(layer: RandomLayer) -> Blob:
    """The layer for `layer`; the same seed and size always give the same digest."""
    data = random.Random(layer.seed).randbytes(layer.size)
    return Blob(LAYER_TYPE, _tar([(f"srv/blob-{layer.seed}.bin", data, 0o644)]))


def _at_paths(paths: Mapping[str, str | bytes]) -> list[tuple[str, bytes | None, int]]:
    """Tar entries for files at absolute paths, each preceded by its missing parent dirs."""
    entries: list[tuple[str, bytes | None, int]] = []
    dirs: set[str] = set()
    for path, text in sorted(paths.items()):
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent not in dirs:
                dirs.add(parent)
                entries.append((parent, None, 0o755))
        data = text.encode() if isinstance(text, str) else text
        entries.append(("/".join(parts), data, 0o755))
    return entries


def build(spec: SyntheticImage) -> BuiltImage:
    """Assemble an image's layers, config and manifest (no engine needed)."""
    files = [(f"srv/{name}", text.encode(), 0o755) for name, text in sorted(spec.files.items())]
    host = {path: source.read_bytes() for path, source in spec.host_files.items()}
    files += _at_paths({**spec.paths, **host})
    layers = (base_layer(), *(random_layer(r) for r in spec.layers), Blob(LAYER_TYPE, _tar(files)))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {
            "Cmd": list(spec.cmd),
            **({"Entrypoint": list(spec.entrypoint)} if spec.entrypoint else {}),
            "Env": [
                *([] if "PATH" in spec.env else ["PATH=/bin"]),
                *(f"{k}={v}" for k, v in sorted(spec.env.items())),
            ],
            "WorkingDir": "/srv",
            "Labels": {"dev.dockyard.lab": spec.repository},
        },
        "rootfs": {"type": "layers", "diff_ids": [b.digest for b in layers]},
    }
    config_blob = Blob(CONFIG_TYPE, json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": config_blob.descriptor(),
        "layers": [b.descriptor() for b in layers],
    }
    manifest_blob = Blob(MANIFEST_TYPE, json.dumps(manifest, sort_keys=True).encode())
    return BuiltImage(spec, layers, config_blob, manifest_blob)


class RegistryPusher:
    """Pushes built images to one registry over its HTTP API (plain HTTP, optional basic auth)."""

    def __init__(self, base_url: str, auth: tuple[str, str] | None = None) -> None:
        self._client = httpx.Client(base_url=base_url, auth=auth, timeout=HTTP_TIMEOUT)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RegistryPusher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _has_blob(self, repo: str, blob: Blob) -> bool:
        return self._client.head(f"/v2/{repo}/blobs/{blob.digest}").status_code == 200

    def _upload(self, repo: str, blob: Blob) -> None:
        if self._has_blob(repo, blob):
            return
        start = self._client.post(f"/v2/{repo}/blobs/uploads/")
        if start.status_code != 202:
            raise ImagePushError(f"start upload to {repo}: HTTP {start.status_code}")
        location = start.headers["location"]
        sep = "&" if "?" in location else "?"
        done = self._client.put(
            f"{location}{sep}digest={blob.digest}",
            content=blob.data,
            headers={"content-type": "application/octet-stream"},
        )
        if done.status_code != 201:
            raise ImagePushError(f"upload {blob.digest} to {repo}: HTTP {done.status_code}")

    def push(self, image: BuiltImage, tag: str | None = None) -> str:
        """Upload blobs then the manifest under `tag` (or the spec's tag, or by digest)."""
        repo = image.spec.repository
        for blob in (*image.layers, image.config):
            self._upload(repo, blob)
        reference = tag or image.spec.tag or image.digest
        put = self._client.put(
            f"/v2/{repo}/manifests/{reference}",
            content=image.manifest.data,
            headers={"content-type": MANIFEST_TYPE},
        )
        if put.status_code != 201:
            raise ImagePushError(f"manifest {repo}:{reference}: HTTP {put.status_code} {put.text}")
        return image.digest

    def manifest_digest(self, repo: str, reference: str) -> str | None:
        """The digest the registry serves for repo:reference, or None if it has none."""
        head = self._client.head(
            f"/v2/{repo}/manifests/{reference}", headers={"accept": MANIFEST_TYPE}
        )
        return head.headers.get("docker-content-digest") if head.status_code == 200 else None
