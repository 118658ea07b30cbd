"""The disk command builders, tested as strings: nothing forced, nothing pruned wholesale."""

from __future__ import annotations

import json
import re

from dockyard.commands import disk


def test_df_reads_bytes_of_the_given_path() -> None:
    assert disk.df("/var/lib/docker") == [
        "df", "-B1", "--output=avail,size,pcent", "/var/lib/docker",
    ]  # fmt: skip


def test_listings_print_full_ids_of_everything() -> None:
    assert disk.image_ids() == ["docker", "image", "ls", "--all", "--quiet", "--no-trunc"]
    assert disk.container_ids() == ["docker", "container", "ls", "--all", "--quiet", "--no-trunc"]


def test_inspect_formats_print_one_json_object_per_line() -> None:
    argv = disk.inspect_images(["sha256:1", "sha256:2"])
    assert argv[:4] == ["docker", "image", "inspect", "--format"]
    assert argv[-2:] == ["sha256:1", "sha256:2"]
    sample = re.sub(r"\{\{json \.[\w.]+\}\}", "null", argv[4])
    assert set(json.loads(sample)) == {"Id", "RepoTags", "RepoDigests", "Parent", "Size"}
    sizes = disk.inspect_containers(["c1"], sizes=True)
    assert sizes[:4] == ["docker", "container", "inspect", "--size"] and sizes[-1] == "c1"
    plain = disk.inspect_containers(["c1"])
    assert "--size" not in plain and "SizeRw" not in plain[4], "inspect fails on it without --size"
    sample = re.sub(r"\{\{json \.[\w.]+\}\}", "null", sizes[5])
    assert set(json.loads(sample)) == {"Id", "Name", "Image", "Status", "Labels", "SizeRw"}


def test_removal_is_one_item_never_forced_never_volumes() -> None:
    assert disk.remove_container("c1") == ["docker", "container", "rm", "c1"]
    assert disk.remove_image(["app:v1", "mirror@sha256:1"]) == [
        "docker", "image", "rm", "--no-prune", "app:v1", "mirror@sha256:1",
    ]  # fmt: skip
    every = [disk.remove_container("c"), disk.remove_image(["i"]), disk.system_df()]
    flags = {arg for argv in every for arg in argv}
    assert not flags & {"-f", "--force", "-v", "--volumes", "prune"}


def test_system_df_prints_json_lines() -> None:
    assert disk.system_df() == ["docker", "system", "df", "--format", "{{json .}}"]
