"""Pure tests of the disk gate and prune: df and inspect parsing, thresholds, who owns what,
the prune order, and that nothing but dockyard's own containers and images is ever removed."""

from __future__ import annotations

import json
import pickle
import re
from dataclasses import dataclass, field

import pytest

from dockyard.commands import disk as disk_commands
from dockyard.deadline import Deadline
from dockyard.disk.gate import GB, DiskGate, DiskReadError, DiskStatus
from dockyard.disk.inventory import (
    COMPOSE_DIR_LABEL,
    COMPOSE_PROJECT_LABEL,
    EngineContainer,
    EngineImage,
    Inventory,
    read_inventory,
)
from dockyard.disk.ownership import ImageSelector, Ownership, OwnStack
from dockyard.disk.prune import (
    GateStillFails,
    PruneStep,
    cleanup,
    ensure_space,
    removable_images,
)
from dockyard.host.releases import Release
from dockyard.images.ref import InvalidImageRef
from dockyard.runner import RunResult
from tests.fakes import FakeRunner

R = "127.0.0.1:5000/dockyard"
X = "sha256:" + "1" * 64
Y = "sha256:" + "2" * 64
MB = 1_000_000
SHOP_DIR = "/srv/shop"
JOBS_DIR = "/srv/jobs"


def image_id(n: int) -> str:
    return "sha256:" + f"{n:x}" * 64


def digest(n: int) -> str:
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


def container(
    cid: str,
    img: int,
    status: str = "exited",
    project: str | None = None,
    workdir: str = SHOP_DIR,
    size_rw: int = 0,
) -> EngineContainer:
    labels = {COMPOSE_PROJECT_LABEL: project, COMPOSE_DIR_LABEL: workdir} if project else {}
    return EngineContainer(
        cid, f"{project or 'solo'}-{cid}", image_id(img), status, labels, size_rw
    )


def release(n: int, result: str = "succeeded", **images: str) -> Release:
    return Release(f"r{n}", f"2026-01-0{n}T00:00:00Z", "ci", f"run-{n}", result, f"h{n}", images)


def status(free_gb: float, used_pct: float = 50.0) -> DiskStatus:
    return DiskStatus(int(free_gb * GB), 100 * GB, used_pct)


def deadline() -> Deadline:
    return Deadline("disk", 60)


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


@dataclass
class FakeEngine:
    """A tiny model of an engine and its filesystem behind a FakeRunner: the docker CLI's
    answers, and `docker ... rm` refusing what the real engine refuses (no force)."""

    free: int
    images: dict[str, EngineImage] = field(default_factory=dict)
    containers: dict[str, EngineContainer] = field(default_factory=dict)
    runner: FakeRunner = field(default_factory=FakeRunner)

    def __post_init__(self) -> None:
        self.runner.on(
            r"^df ", lambda *_: ok(f"Avail 1B-blocks Use%\n{self.free} {100 * GB} 50%\n")
        )
        self.runner.on(r"^ids=\$\(docker image ls ", self._inventory)
        self.runner.on(r"^docker container rm ", self._rm_container)
        self.runner.on(r"^docker image rm --no-prune ", self._rm_image)
        self.runner.on(
            r"^docker system df ",
            lambda *_: ok(
                '{"Type":"Build Cache","Size":"1.5GB"}\n{"Type":"Local Volumes","Size":"3GB"}\n'
            ),
        )

    def add(self, *items: EngineImage | EngineContainer) -> FakeEngine:
        for item in items:
            (self.images if isinstance(item, EngineImage) else self.containers)[item.id] = item
        return self

    def removals(self) -> list[str]:
        return [c for c in self.runner.asked if re.match(r"docker \w+ rm ", c)]

    def _inventory(self, text: str, _stdin: bytes | None) -> RunResult:
        sections = [self._inspect_images(), self._inspect_containers("--size" in text)]
        return ok("".join(f"{rows}\n{disk_commands.INSPECT_STATUS} 0\n" for rows in sections))

    def _inspect_images(self) -> str:
        rows = [
            {
                "Id": i.id,
                "RepoTags": list(i.repo_tags) or None,
                "RepoDigests": list(i.repo_digests),
                "Parent": i.parent,
                "Size": i.size,
            }
            for i in self.images.values()
        ]
        return "\n".join(map(json.dumps, rows))

    def _inspect_containers(self, sizes: bool) -> str:
        rows = [
            {
                "Id": c.id,
                "Name": f"/{c.name}",
                "Image": c.image,
                "Status": c.status,
                "Labels": dict(c.labels) or None,
                "SizeRw": c.size_rw if sizes else None,
            }
            for c in self.containers.values()
        ]
        return "\n".join(map(json.dumps, rows))

    def _rm_container(self, text: str, _stdin: bytes | None) -> RunResult:
        cid = text.split()[-1]
        found = self.containers.get(cid)
        if found is None or not found.stopped:
            return RunResult(1, "", f"Error: cannot remove container {cid}: it is running")
        del self.containers[cid]
        self.free += found.size_rw
        return ok(cid)

    def _rm_image(self, text: str, _stdin: bytes | None) -> RunResult:
        refs = text.split()[4:]
        found = next(
            (
                i
                for i in self.images.values()
                if i.id in refs or set(refs) & {*i.repo_tags, *i.repo_digests}
            ),
            None,
        )
        if found is None:
            return RunResult(1, "", f"Error: No such image: {refs[0]}")
        if found.id in {c.image for c in self.containers.values()}:
            return RunResult(1, "", "Error: conflict: image is being used by a container")
        del self.images[found.id]
        self.free += found.size
        return ok(f"Deleted: {found.id}")


def ok(out: str) -> RunResult:
    return RunResult(0, out, "")


class TestInventory:
    def test_reads_images_and_containers_from_json_lines(self) -> None:
        engine = FakeEngine(GB).add(
            image(1, (f"{R}/app:v2",), (f"{R}/app@{Y}",), size=33439744),
            image(2, parent=image_id(1), size=5),
            container("c1", 1, "running", "shop"),
        )
        inventory = read_inventory(engine.runner, deadline())
        assert set(inventory.images) == set(engine.images.values())
        assert inventory.containers == (container("c1", 1, "running", "shop"),)
        assert inventory.in_use == {image_id(1)} and inventory.parents == {image_id(1)}

    def test_images_and_containers_are_read_in_one_command(self) -> None:
        engine = FakeEngine(GB).add(*(EngineImage(f"sha256:{n:064x}") for n in range(300)))
        inventory = read_inventory(engine.runner, deadline(), sizes=True)
        assert len(inventory.images) == 300 and len(engine.runner.asked) == 1
        (script,) = engine.runner.asked
        assert "xargs docker image inspect --format" in script
        assert "xargs docker container inspect --size --format" in script

    def test_the_inventory_script_fails_when_a_listing_fails(self) -> None:
        script = disk_commands.inventory()
        assert script.startswith("ids=$(docker image ls --all --quiet --no-trunc) || exit $?; ")
        assert "; ids=$(docker container ls --all --quiet --no-trunc) || exit $?; " in script
        assert script.count(f'echo "{disk_commands.INSPECT_STATUS} $s"') == 2

    @staticmethod
    def inventory(images: RunResult, containers: str = "") -> FakeRunner:
        mark = disk_commands.INSPECT_STATUS
        out = f"{images.stdout}{mark} {images.exit_status}\n{containers}{mark} 0\n"
        return FakeRunner().on(r"image ls", RunResult(0, out, images.stderr))

    def test_an_item_gone_since_the_listing_is_not_an_error(self) -> None:
        row = json.dumps(
            {"Id": "sha256:1", "RepoTags": None, "RepoDigests": [], "Parent": "", "Size": 7}
        )
        runner = self.inventory(RunResult(123, row + "\n", "Error: No such image: sha256:2"))
        assert read_inventory(runner, deadline()).images == (EngineImage("sha256:1", size=7),)

    @pytest.mark.parametrize(
        "reply",
        [RunResult(123, "", "Cannot connect to the Docker daemon"), ok("not json\n"),
         ok('{"x": 1}\n')],
    )  # fmt: skip
    def test_unreadable_inspect_output_is_a_read_error(self, reply: RunResult) -> None:
        with pytest.raises(DiskReadError, match="image inspect"):
            read_inventory(self.inventory(reply), deadline())

    def test_output_without_both_sections_is_a_read_error(self) -> None:
        runner = FakeRunner().on(r"image ls", ok("cut off\n"))
        with pytest.raises(DiskReadError, match="unexpected inventory output"):
            read_inventory(runner, deadline())


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

    def test_without_bare_ids_a_hex_name_is_a_repository(self) -> None:
        selector = ImageSelector.parse([image_id(4)[7:19]], bare_ids=False)
        assert not selector.matches(self.busybox)
        assert ImageSelector.parse([image_id(4)], bare_ids=False).matches(self.busybox)

    def test_a_bad_protected_entry_is_refused(self) -> None:
        with pytest.raises(InvalidImageRef):
            ImageSelector.parse(["Not/A Ref"])

    def test_lenient_parsing_skips_what_it_cannot_read(self) -> None:
        assert ImageSelector.parse(["<no image>", "busybox"], strict=False).matches(self.busybox)

    def test_a_single_string_is_refused(self) -> None:
        with pytest.raises(TypeError):
            ImageSelector.parse(f"{R}/app:v1")


def two_stacks(keep: int = 1, protected: tuple[str, ...] = ()) -> Ownership:
    """shop (releases r1 < r2) and jobs (r1 only) on one host."""
    shop = OwnStack(
        "shop",
        SHOP_DIR,
        (
            release(1, app=f"{R}/app@{digest(1)}", tools=image_id(9)),
            release(2, app=f"{R}/app@{digest(2)}"),
        ),
    )
    jobs = OwnStack("jobs", JOBS_DIR, (release(1, cron=f"{R}/cron@{digest(3)}"),))
    return Ownership.of([shop, jobs], protected, keep)


class TestOwnership:
    def test_containers_are_owned_by_project_and_directory_positively(self) -> None:
        owner = two_stacks()
        assert owner.owns_container(container("a", 1, project="shop"))
        assert owner.owns_container(
            container("b", 1, project="shop", workdir=f"{SHOP_DIR}/.dockyard/releases/r2")
        )
        assert owner.owns_container(container("c", 1, project="jobs", workdir=JOBS_DIR))
        assert not owner.owns_container(container("d", 1, project="billing"))
        assert not owner.owns_container(container("e", 1, project="shop", workdir="/srv/shop2"))
        assert not owner.owns_container(container("f", 1, project="shop-old"))
        assert not owner.owns_container(container("g", 1))

    def test_images_are_owned_when_a_record_names_them_and_all_their_repositories(self) -> None:
        owner = two_stacks()
        assert owner.owns_image(image(1, (f"{R}/app:v1",), (f"{R}/app@{digest(1)}",)))
        assert owner.owns_image(image(3, (), (f"{R}/cron@{digest(3)}",)))
        assert owner.owns_image(image(9))
        assert owner.owns_image(image(9, ("shop/built:dev",))), "named by ID: what dockyard ran"
        assert not owner.owns_image(image(4, (), (f"{R}/billing-job@{digest(4)}",)))
        assert not owner.owns_image(image(5, (f"{R}/app:v1",), (f"{R}/app@{digest(5)}",)))
        shared = image(1, (f"{R}/app:v1", "billing/app:prod"), (f"{R}/app@{digest(1)}",))
        assert not owner.owns_image(shared)
        assert not owner.owns_image(image(7, ("billing/local:1",)))

    def test_variables_name_per_deploy_images_by_tag(self) -> None:
        record = Release("r1", "t", "ci", "run", "succeeded", "h", {}, {"MIGRATOR": f"{R}/m:v1"})
        owner = Ownership.of([OwnStack("shop", SHOP_DIR, (record,))], (), 1)
        assert owner.owns_image(image(1, (f"{R}/m:v1",), (f"{R}/m@{X}",)))

    def test_every_stacks_kept_releases_and_the_protected_are_kept(self) -> None:
        owner = two_stacks(keep=1, protected=(f"{R}/web:v3",))
        assert owner.kept.matches(image(2, (), (f"{R}/app@{digest(2)}",)))
        assert owner.kept.matches(image(3, (), (f"{R}/cron@{digest(3)}",)))
        assert owner.kept.matches(image(6, (f"{R}/web:v3",)))
        assert not owner.kept.matches(image(1, (), (f"{R}/app@{digest(1)}",)))
        assert owner.projects == {"shop", "jobs"}


def test_removable_images_skip_used_kept_foreign_and_parent_images_largest_first() -> None:
    old = image(1, (f"{R}/app:v1",), (f"{R}/app@{digest(1)}",), size=5 * MB)
    kept = image(2, (), (f"{R}/app@{digest(2)}",), size=50 * MB)
    used_by_billing = image(9, size=90 * MB)
    foreign = image(4, ("billing/local:1",), size=80 * MB)
    other_job = image(3, (), (f"{R}/cron@{digest(3)}",), size=MB)
    inventory = Inventory(
        (old, kept, used_by_billing, foreign, other_job), (container("b1", 9, project="billing"),)
    )
    assert removable_images(inventory, two_stacks(keep=1)) == [old]
    assert removable_images(inventory, two_stacks(keep=1), untagged_only=True) == []
    child = image(5, parent=old.id)
    tree = Inventory((old, child), ())
    assert removable_images(tree, Ownership.of([], (), 1)) == []


class Neighbours:
    """An engine holding shop's releases, stack jobs' kept release, and a neighbour: billing's
    stopped containers and digest-pinned images, a local-only image, a stand-alone container."""

    old_app = image(1, (f"{R}/app:v1",), (f"{R}/app@{digest(1)}",), size=2 * GB)
    old_dangling = image(9, size=GB // 2)
    current = image(2, (f"{R}/app:v2",), (f"{R}/app@{digest(2)}",), size=3 * GB)
    jobs_kept = image(3, (), (f"{R}/cron@{digest(3)}",), size=GB)
    billing_job = image(4, (), (f"{R}/billing-job@{digest(4)}",), size=4 * GB)
    billing_api = image(5, ("billing/api:1",), (f"billing/api@{digest(5)}",), size=GB)
    local_only = image(6, ("billing/local:1",), size=GB)
    solo = image(7, ("busybox:latest",), (f"busybox@{digest(7)}",), size=MB)
    shop_stopped = container("s-tools", 2, "exited", "shop", size_rw=GB // 4)
    shop_running = container("s-app", 2, "running", "shop")
    billing = [container(f"b{n}", 5, "exited", "billing", "/srv/billing", MB) for n in (1, 2, 3)]
    solo_stopped = container("solo", 7, "exited", size_rw=2 * MB)

    @classmethod
    def engine(cls, free: float) -> FakeEngine:
        return FakeEngine(int(free * GB)).add(
            cls.old_app,
            cls.old_dangling,
            cls.current,
            cls.jobs_kept,
            cls.billing_job,
            cls.billing_api,
            cls.local_only,
            cls.solo,
            cls.shop_stopped,
            cls.shop_running,
            *cls.billing,
            cls.solo_stopped,
        )


def neighbours_ownership() -> Ownership:
    return two_stacks(keep=1, protected=(f"{R}/app:v2",))


def prune(engine: FakeEngine, gate: DiskGate, said: list[str] | None = None):  # type: ignore[no-untyped-def]
    return ensure_space(
        engine.runner,
        deadline(),
        "/var/lib/docker",
        gate,
        neighbours_ownership(),
        (said if said is not None else []).append,
    )


def assert_neighbours_untouched(engine: FakeEngine) -> None:
    n = Neighbours
    for kept in (n.current, n.jobs_kept, n.billing_job, n.billing_api, n.local_only, n.solo):
        assert kept.id in engine.images, kept.label
    for kept_container in (n.shop_running, *n.billing, n.solo_stopped):
        assert kept_container.id in engine.containers
    wholesale = r"(?<!no-)prune|--force|\s-f(\s|$)|volume|builder"
    assert not [c for c in engine.runner.asked if re.search(wholesale, c)]


class TestEnsureSpace:
    gate = DiskGate(min_free_gb=15, max_used_pct=70)

    def test_a_passing_gate_touches_nothing(self) -> None:
        engine = Neighbours.engine(free=20)
        report = prune(engine, self.gate)
        assert report.passed and report.steps == [] and report.removed == []
        assert engine.runner.asked == ["df -B1 --output=avail,size,pcent /var/lib/docker"]

    def test_own_untagged_images_go_first_and_the_prune_stops_when_the_gate_passes(self) -> None:
        engine = Neighbours.engine(free=14.6)
        said: list[str] = []
        report = prune(engine, self.gate, said)
        assert report.passed
        assert report.steps == [(PruneStep.UNTAGGED_IMAGES, GB // 2)]
        assert [str(r) for r in report.removed] == [
            f"image {Neighbours.old_dangling.id[7:19]} (500.0 MB)"
        ]
        assert (
            Neighbours.old_app.id in engine.images
            and Neighbours.shop_stopped.id in engine.containers
        )
        assert said[0].startswith("disk gate fails on /var/lib/docker: 14.6 GB free < 15 GB")
        assert_neighbours_untouched(engine)

    def test_then_the_stacks_stopped_containers_then_old_release_images(self) -> None:
        engine = Neighbours.engine(free=12.5)
        report = prune(engine, self.gate)
        assert report.passed
        assert report.steps == [
            (PruneStep.UNTAGGED_IMAGES, GB // 2),
            (PruneStep.STOPPED_CONTAINERS, GB // 4),
            (PruneStep.OLD_RELEASE_IMAGES, 2 * GB),
        ]
        assert [r.kind for r in report.removed] == ["image", "container", "image"]
        assert report.removed[1].name == "shop-s-tools (project shop)"
        assert report.removed[2].name == f"{R}/app:v1"
        assert engine.removals()[1] == "docker container rm s-tools"
        assert_neighbours_untouched(engine)

    def test_pressure_left_names_who_holds_the_space_and_removes_nothing_else(self) -> None:
        engine = Neighbours.engine(free=3)
        with pytest.raises(GateStillFails) as raised:
            prune(engine, self.gate)
        assert_neighbours_untouched(engine)
        assert set(engine.images) == {
            i.id
            for i in (
                Neighbours.current,
                Neighbours.jobs_kept,
                Neighbours.billing_job,
                Neighbours.billing_api,
                Neighbours.local_only,
                Neighbours.solo,
            )
        }
        message = str(raised.value)
        assert "5.8 GB free < 15 GB" in message and "was 3.0 GB free" in message
        assert "lower the thresholds under disk:" in message
        holders = raised.value.prune.holders
        assert holders[0].startswith("images no container uses and no dockyard release names")
        assert "5.0 GB" in holders[0] and "billing/local:1" in holders[0]
        billing = next(h for h in holders if h.startswith("project billing"))
        assert billing == (
            "project billing (not dockyard's): 3 container(s) (3 stopped, 3.0 MB "
            "written), 1 image(s) 1.0 GB (billing/api:1)"
        )
        assert any(
            h.startswith("stand-alone containers (not dockyard's): 1 container(s)") for h in holders
        )
        assert any(h.startswith("dockyard's kept images") and "1.0 GB" in h for h in holders)
        assert holders[-1] == "build cache 1.5GB, local volumes 3GB (dockyard never removes these)"
        assert "project billing (not dockyard's)" in message

    def test_a_removal_the_engine_refuses_is_noted_and_the_prune_goes_on(self) -> None:
        engine = Neighbours.engine(free=12)
        started = container("late", 1, "created", "billing", "/srv/billing")
        real = engine._rm_image

        def start_first(text: str, stdin: bytes | None) -> RunResult:
            engine.add(started)
            return real(text, stdin)

        engine.runner.replies.insert(
            0, (rf"image rm --no-prune ({R}/app:v1|{Neighbours.old_app.id})", start_first)
        )
        with pytest.raises(GateStillFails) as raised:
            prune(engine, self.gate)
        assert Neighbours.old_app.id in engine.images
        assert raised.value.prune.refused == [
            f"image {R}/app:v1: Error: conflict: image is being used by a container"
        ]

    def test_the_failure_pickles_with_its_report(self) -> None:
        with pytest.raises(GateStillFails) as raised:
            prune(Neighbours.engine(free=3), self.gate)
        again = pickle.loads(pickle.dumps(raised.value))
        assert str(again) == str(raised.value)
        assert again.prune.holders == raised.value.prune.holders


class TestCleanup:
    def test_removes_only_untagged_images_dockyard_pulled_and_keeps_rollback_targets(self) -> None:
        engine = Neighbours.engine(free=1)
        moved = image(8, (), (f"{R}/app@{digest(1)}",), size=7 * MB)
        engine.add(moved)
        report = cleanup(engine.runner, deadline(), neighbours_ownership(), lambda _: None)
        assert [r.name for r in report.removed] == [
            Neighbours.old_dangling.id[7:19],
            f"{R}/app@{digest(1)}",
        ]
        assert report.outcome == "removed 2 untagged image(s) dockyard pulled (507.0 MB)"
        assert Neighbours.old_app.id in engine.images, "tagged: the gate's to weigh, not cleanup's"
        assert Neighbours.shop_stopped.id in engine.containers
        assert_neighbours_untouched(engine)
        assert not [c for c in engine.runner.asked if c.startswith("df ")]

    def test_the_section_lists_what_was_removed(self) -> None:
        engine = Neighbours.engine(free=1)
        section = cleanup(engine.runner, deadline(), neighbours_ownership(), print).section(
            "shop", "cleanup"
        )
        assert section.removed == [f"image {Neighbours.old_dangling.id[7:19]} (500.0 MB)"]
        assert section.to_markdown()[:3] == [
            "### cleanup prune, stack shop",
            "",
            "removed 1 untagged image(s) dockyard pulled (500.0 MB)",
        ]
