"""Pure tests of the disk gate: df and docker CLI parsing, thresholds, selection, prune order."""

from __future__ import annotations

import json
import re

import pytest

from dockyard.disk import (
    GB,
    DiskGate,
    DiskReadError,
    DiskStatus,
    EngineImage,
    ImageSelector,
    PruneReport,
    PruneStep,
    docker_root_dir,
    ensure_space,
    images_in_use,
    parse_image_inspect,
    removable,
)
from dockyard.errors import DiskPressure
from dockyard.images.ref import InvalidImageRef

R = "127.0.0.1:5000/dockyard"
X = "sha256:" + "1" * 64
Y = "sha256:" + "2" * 64
MB = 1_000_000


def image_id(n: int) -> str:
    return "sha256:" + f"{n:x}" * 64


def image(
    n: int,
    tags: tuple[str, ...] = (),
    digests: tuple[str, ...] = (),
    *,
    parent: str = "",
    size: int = MB,
) -> EngineImage:
    return EngineImage(image_id(n), tags, digests, parent, size)


def status(free_gb: float, used_pct: float = 50.0) -> DiskStatus:
    return DiskStatus(int(free_gb * GB), 100 * GB, used_pct)


class TestParseDf:
    def test_reads_avail_size_and_percent(self) -> None:
        out = "      Avail    1B-blocks Use%\n84629622784 270553174016  23%\n"
        assert DiskStatus.parse_df(out) == DiskStatus(84629622784, 270553174016, 23.0)

    def test_a_dash_percent_reads_as_zero(self) -> None:
        assert DiskStatus.parse_df("Avail 1B-blocks Use%\n0 0 -\n").used_pct == 0.0

    @pytest.mark.parametrize(
        "out",
        [
            "",
            "Avail 1B-blocks Use%\n",
            "Avail 1B-blocks Use%\n12 34\n",
            "Avail 1B-blocks Use%\n12K 34 5%\n",
            "Avail 1B-blocks Use%\n12 34 x%\n",
            "df: /nope: No such file or directory\n",
        ],
    )
    def test_anything_else_is_a_read_error(self, out: str) -> None:
        with pytest.raises(DiskReadError, match="unexpected df output"):
            DiskStatus.parse_df(out)


class TestGate:
    gate = DiskGate(min_free_gb=15, max_used_pct=70)

    def test_too_little_free_space_fails_with_the_numbers(self) -> None:
        assert not self.gate.passes(status(12.34))
        assert self.gate.reason(status(12.34)) == "12.3 GB free < 15 GB"

    def test_too_high_use_fails_with_the_numbers(self) -> None:
        assert not self.gate.passes(status(40, 82))
        assert self.gate.reason(status(40, 82)) == "82% used > 70%"

    def test_both_failures_are_named(self) -> None:
        assert self.gate.reason(status(1, 99)) == "1.0 GB free < 15 GB; 99% used > 70%"

    def test_thresholds_are_inclusive(self) -> None:
        assert self.gate.passes(status(15, 70))
        assert not self.gate.passes(DiskStatus(15 * GB - 1, 100 * GB, 70))
        assert not self.gate.passes(status(15, 70.5))

    def test_a_passing_reason_says_so(self) -> None:
        assert self.gate.reason(status(20, 30)) == "20.0 GB free >= 15 GB, 30% used <= 70%"


class TestParseImageInspect:
    def test_reads_id_refs_parent_and_size(self) -> None:
        out = json.dumps(
            [
                {
                    "Id": X,
                    "RepoTags": [f"{R}/app:v2"],
                    "RepoDigests": [f"{R}/app@{Y}"],
                    "Parent": "",
                    "Size": 33439744,
                    "Config": {"Labels": {"dev.dockyard.lab": "dockyard/app"}},
                },
                {"Id": Y, "RepoTags": None, "RepoDigests": [], "Parent": X, "Size": 5},
            ]
        )
        assert parse_image_inspect(out) == [
            EngineImage(X, (f"{R}/app:v2",), (f"{R}/app@{Y}",), "", 33439744),
            EngineImage(Y, (), (), X, 5),
        ]

    @pytest.mark.parametrize("out", ["", "Error: No such image", "{}", '[{"RepoTags": []}]'])
    def test_unreadable_output_is_a_read_error(self, out: str) -> None:
        with pytest.raises(DiskReadError):
            parse_image_inspect(out)


def test_docker_root_dir_must_be_an_absolute_path() -> None:
    assert docker_root_dir(lambda _cmd: "/var/lib/docker\n") == "/var/lib/docker"
    with pytest.raises(DiskReadError):
        docker_root_dir(lambda _cmd: "\n")


class TestSelector:
    app_v1 = image(1, (f"{R}/app:v1",), (f"{R}/app@{X}",))
    pulled_by_digest = image(2, (), (f"{R}/app@{X}",))
    app_v1_moved = image(3, (f"{R}/app:v1",), (f"{R}/app@{Y}",))
    busybox = image(4, ("busybox:latest",), (f"busybox@{Y}",))

    def test_tag_at_digest_matches_the_repo_digest_docker_shows(self) -> None:
        selector = ImageSelector.parse([f"{R}/app:v1@{X}"])
        assert selector.matches(self.pulled_by_digest)
        assert selector.matches(self.app_v1)

    def test_tag_at_digest_also_keeps_the_image_now_at_that_tag(self) -> None:
        assert ImageSelector.parse([f"{R}/app:v1@{X}"]).matches(self.app_v1_moved)

    def test_digest_only_reference_needs_the_digest(self) -> None:
        selector = ImageSelector.parse([f"{R}/app@{X}"])
        assert selector.matches(self.pulled_by_digest)
        assert not selector.matches(self.app_v1_moved)

    def test_tag_reference_needs_that_tag(self) -> None:
        assert not ImageSelector.parse([f"{R}/app:v2"]).matches(self.app_v1)
        assert not ImageSelector.parse([f"{R}/app:v1"]).matches(self.pulled_by_digest)

    @pytest.mark.parametrize("ref", ["busybox", "docker.io/library/busybox:latest", f"busybox@{Y}"])
    def test_references_are_normalised(self, ref: str) -> None:
        assert ImageSelector.parse([ref]).matches(self.busybox)

    @pytest.mark.parametrize("entry", [image_id(4), image_id(4)[7:], image_id(4)[7:19]])
    def test_ids_match_in_full_or_by_prefix(self, entry: str) -> None:
        selector = ImageSelector.parse([entry])
        assert selector.matches(self.busybox)
        assert not selector.matches(self.app_v1)

    def test_a_bad_protected_entry_is_refused(self) -> None:
        with pytest.raises(InvalidImageRef):
            ImageSelector.parse(["Not/A Ref"])

    def test_lenient_parsing_skips_what_it_cannot_read(self) -> None:
        assert ImageSelector.parse(["<no image>", "busybox"], strict=False).matches(self.busybox)

    def test_a_single_string_is_refused(self) -> None:
        with pytest.raises(TypeError):
            ImageSelector.parse(f"{R}/app:v1")


def test_images_in_use_reads_every_form_docker_ps_prints() -> None:
    images = [
        image(1, (f"{R}/app:v1",)),
        image(2),
        image(3, ("redis:7.2",)),
        image(5, ("busybox:latest",)),
        image(6, (f"{R}/unused:1",)),
    ]
    ps = f"{R}/app:v1\n{image_id(2)}\n{image_id(3)[7:19]}\nbusybox\n"
    assert images_in_use(lambda _cmd: ps, images) == {image_id(n) for n in (1, 2, 3, 5)}


class TestRemovable:
    def test_skips_used_protected_and_parent_images_largest_first(self) -> None:
        child = image(1, ("child:1",), parent=image_id(2), size=5 * MB)
        parent = image(2, ("parent:1",), size=50 * MB)
        used = image(3, ("used:1",), size=90 * MB)
        kept = image(4, ("kept:1",), size=80 * MB)
        small = image(5, ("small:1",), size=1 * MB)
        chosen = removable(
            [child, parent, used, kept, small], {image_id(3)}, ImageSelector.parse(["kept:1"])
        )
        assert chosen == [child, small]
        assert removable([parent, small], set(), ImageSelector()) == [parent, small]

    def test_untagged_only_includes_images_pulled_by_digest(self) -> None:
        tagged = image(1, ("app:1",))
        by_digest = image(2, (), (f"app@{X}",))
        bare = image(3)
        chosen = removable([tagged, by_digest, bare], set(), ImageSelector(), untagged_only=True)
        assert {i.id for i in chosen} == {image_id(2), image_id(3)}


class TestRemoveCommand:
    def test_one_tag_in_one_repository_goes_by_id(self) -> None:
        one = image(1, (f"{R}/app:v1",), (f"{R}/app@{X}",))
        assert one.remove_command() == f"docker rmi --no-prune {image_id(1)}"
        assert (
            image(2, (), (f"{R}/app@{X}",)).remove_command()
            == f"docker rmi --no-prune {image_id(2)}"
        )

    def test_several_tags_go_tag_by_tag(self) -> None:
        two = image(1, (f"{R}/app:v1", f"{R}/app:stable"), (f"{R}/app@{X}",))
        assert two.remove_command() == f"docker rmi --no-prune {R}/app:v1 {R}/app:stable"

    def test_a_digest_in_an_untagged_repository_is_removed_last(self) -> None:
        mixed = image(1, (f"{R}/app:v1",), (f"{R}/app@{X}", f"{R}/mirror@{X}"))
        assert mixed.remove_command() == f"docker rmi --no-prune {R}/app:v1 {R}/mirror@{X}"


class FakeHost:
    """Canned docker CLI output over a tiny model of an engine and its filesystem."""

    def __init__(
        self,
        free: int,
        images: list[EngineImage],
        ps: str = "",
        build_cache: int = 0,
        containers: int = 0,
    ) -> None:
        self.free = free
        self.images = {i.id: i for i in images}
        self.ps = ps
        self.build_cache = build_cache
        self.containers = containers
        self.commands: list[str] = []

    def __call__(self, command: str) -> str:
        self.commands.append(command)
        if command.startswith("df "):
            return f"Avail 1B-blocks Use%\n{self.free} {100 * GB} 50%\n"
        if command == "docker image ls -aq --no-trunc":
            return "\n".join(self.images)
        if command.startswith("docker image inspect "):
            wanted = command.split()[3:]
            return json.dumps(
                [
                    {"Id": i.id, "RepoTags": i.repo_tags, "RepoDigests": i.repo_digests}
                    | {"Parent": i.parent, "Size": i.size}
                    for i in self.images.values()
                    if i.id in wanted
                ]
            )
        if command.startswith("docker ps "):
            return self.ps
        if command == "docker builder prune -f":
            self.free, self.build_cache = self.free + self.build_cache, 0
            return ""
        if command.startswith("docker container prune -f "):
            self.free, self.containers = self.free + self.containers, 0
            return ""
        if match := re.fullmatch(r"docker rmi --no-prune (sha256:[0-9a-f]{64})", command):
            self.free += self.images.pop(match.group(1)).size
            return ""
        raise AssertionError(f"unexpected command {command!r}")

    def removed(self) -> list[str]:
        return [c.split()[-1] for c in self.commands if c.startswith("docker rmi ")]


def prune(
    host: FakeHost, gate: DiskGate, protected: set[str], said: list[str] | None = None
) -> PruneReport:
    return ensure_space(
        host,
        "/var/lib/docker",
        gate,
        protected=protected,
        project="shop",
        say=(said if said is not None else []).append,
    )


class TestEnsureSpace:
    gate = DiskGate(min_free_gb=15, max_used_pct=70)

    def test_a_passing_gate_touches_nothing(self) -> None:
        host = FakeHost(20 * GB, [image(1, ("a:1",))], build_cache=GB)
        report = prune(host, self.gate, set())
        assert report.passed and report.steps == [] and report.removed_images == []
        assert report.before == report.after
        assert host.commands == ["df -B1 --output=avail,size,pcent /var/lib/docker"]

    def test_stops_after_the_first_step_that_frees_enough(self) -> None:
        host = FakeHost(14 * GB, [image(1, ("a:1",))], build_cache=2 * GB, containers=GB)
        said: list[str] = []
        report = prune(host, self.gate, set(), said)
        assert report.passed
        assert report.steps == [(PruneStep.DANGLING_IMAGES, 0), (PruneStep.BUILD_CACHE, 2 * GB)]
        assert not any("container prune" in c for c in host.commands)
        assert report.after.free_bytes == 16 * GB
        assert said[0] == "disk gate fails on /var/lib/docker: 14.0 GB free < 15 GB; pruning"

    def test_other_projects_stopped_containers_are_pruned_never_the_stacks_own(self) -> None:
        host = FakeHost(14 * GB, [], containers=2 * GB)
        prune(host, self.gate, set())
        assert (
            "docker container prune -f --filter 'label!=com.docker.compose.project=shop'"
            in host.commands
        )

    def test_dangling_images_go_first_then_the_largest_unreferenced_until_the_gate_passes(
        self,
    ) -> None:
        dangling = image(1, size=GB // 2)
        kept_release = image(2, (), (f"{R}/app@{X}",), size=8 * GB)
        big = image(3, ("big:1",), size=2 * GB)
        small = image(4, ("small:1",), size=GB)
        used = image(5, ("used:1",), size=9 * GB)
        host = FakeHost(13 * GB, [dangling, kept_release, big, small, used], ps="used:1\n")
        report = prune(host, self.gate, {f"{R}/app:v1@{X}"})
        assert report.passed
        assert report.removed_images == [image_id(1), image_id(3)]
        assert report.steps[0] == (PruneStep.DANGLING_IMAGES, GB // 2)
        assert report.steps[-1] == (PruneStep.UNREFERENCED_IMAGES, 2 * GB)
        assert set(host.images) == {image_id(2), image_id(4), image_id(5)}

    def test_pressure_left_after_every_step_raises_with_numbers_and_fix(self) -> None:
        kept = image(1, ("postgres:15",), size=5 * GB)
        loose = image(2, ("old:1",), size=GB)
        host = FakeHost(3 * GB, [kept, loose], build_cache=GB)
        with pytest.raises(DiskPressure) as raised:
            prune(host, self.gate, {"postgres:15"})
        message = str(raised.value)
        assert "5.0 GB free < 15 GB" in message
        assert "was 3.0 GB free" in message
        assert "lower the thresholds under disk:" in message
        assert set(host.images) == {image_id(1)}
        assert host.removed() == [image_id(2)]
