"""Lint and pin on the example stack and on a stack that mirrors the incident (no registry)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from dockyard.compose.files import ComposeFileError
from dockyard.images.floating import FLOATING_TAGS
from dockyard.images.ref import ImageRef
from dockyard.lint.compose import Finding, interpolate, lint_compose, whole_variable
from dockyard.lint.pin import pin_compose

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "lab" / "stack" / "docker-compose.yml"

# The incident's stack: 15 services, a blanket pull of all of them on every deploy.
INCIDENT = """\
# shop: production stack (do not reorder: ops scripts grep this file)
name: shop

x-exporter: &exporter
  image: prom/node-exporter:latest   # shared through a merge key
  restart: always

services:
  app:
    image: ${APP_IMAGE}
    env_file: [.env.app]
  worker:
    image: ${APP_IMAGE}
    command: ["worker", "--queues", "default,mail"]
  migrator:
    image: ${MIGRATOR_IMAGE:?set MIGRATOR_IMAGE}
    profiles: [jobs]
  postgres:
    image: "postgres:15"   # quoted on purpose
    volumes: ["pgdata:/var/lib/postgresql/data"]
  redis:
    image: 'redis:7.2'
  nginx:
    image: nginx:latest
    ports: ["80:80", "443:443"]
  busybox:
    image: busybox
    command: sh -c 'sleep infinity'
  autoheal:
    image: willfarrell/autoheal
  prometheus:
    image: prom/prometheus:v2.51.0
  grafana:
    image: grafana/grafana:10.4.1
  node-exporter:
    <<: *exporter
  cadvisor:
    image: gcr.io/cadvisor/cadvisor:v0.49.1
  mailhog:
    image: mailhog/mailhog
  certbot:
    image: certbot/certbot:${CERTBOT_TAG}
  search:
    image: elasticsearch:8.13.0@sha256:{pin}
    environment: {discovery.type: single-node}

volumes:
  pgdata: {}
"""
PIN = "sha256:" + "ab" * 32


@pytest.fixture
def incident(tmp_path: Path) -> Path:
    path = tmp_path / "docker-compose.yml"
    path.write_text(INCIDENT.replace("{pin}", PIN[7:]))
    return path


def fake_digest(ref: ImageRef) -> str:
    return "sha256:" + hashlib.sha256(ref.familiar.encode()).hexdigest()


def summary(findings: list[Finding]) -> dict[str, str]:
    return {f.service: f.level for f in findings}


# --- lint ---------------------------------------------------------------------------------


def test_lint_example_finds_latest_autoheal_and_untagged_busybox() -> None:
    findings = lint_compose(EXAMPLE, environ={})
    failing = {f.service: f for f in findings if f.failing}
    assert set(failing) == {"autoheal", "tools"}
    assert failing["autoheal"].file == str(EXAMPLE)
    assert failing["autoheal"].image == "127.0.0.1:5000/dockyard/autoheal:latest"
    assert "mutable tag :latest" in failing["autoheal"].problem
    assert failing["tools"].image == "127.0.0.1:5000/dockyard/busybox"
    assert failing["tools"].problem.startswith("no tag")
    lines = EXAMPLE.read_text().splitlines()
    for finding in failing.values():
        assert finding.line is not None
        assert finding.image in lines[finding.line - 1]
    assert summary(findings) == {
        "app": "info",
        "migrator": "info",
        "autoheal": "error",
        "tools": "error",
    }


def test_lint_incident_stack(incident: Path) -> None:
    findings = lint_compose(incident, environ={})
    assert summary(findings) == {
        "app, worker": "info",
        "migrator": "info",
        "nginx": "error",
        "busybox": "error",
        "autoheal": "error",
        "node-exporter": "error",
        "mailhog": "error",
        "certbot": "error",
    }
    by_service = {f.service: f for f in findings}
    assert "${CERTBOT_TAG} resolves to nothing" in by_service["certbot"].problem
    assert by_service["node-exporter"].line == 5  # the line of the merged image
    assert str(by_service["busybox"]) == (
        f"{incident}:27: error: service busybox: busybox: no tag: pulls whatever :latest is at"
        " deploy time; pin a version tag or tag@digest (dockyard pin)"
    )


def test_lint_resolves_variables_from_dotenv_and_environ(incident: Path) -> None:
    (incident.parent / ".env").write_text("# tags\nCERTBOT_TAG=latest\nexport OTHER='x y'\n")
    from_dotenv = {f.service: f for f in lint_compose(incident, environ={})}
    assert "mutable tag :latest" in from_dotenv["certbot"].problem
    from_environ = summary(lint_compose(incident, environ={"CERTBOT_TAG": "v2.10.0"}))
    assert "certbot" not in from_environ


def test_lint_reads_the_dotenv_as_compose_does(incident: Path) -> None:
    (incident.parent / ".env").write_text(
        'BASE=certbot\nCERTBOT_TAG="${CHANNEL:-lat}est" # comment\nexport OTHER="x\\ny"\n'
    )
    by_service = {f.service: f for f in lint_compose(incident, environ={})}
    assert "mutable tag :latest" in by_service["certbot"].problem
    from_environ = summary(lint_compose(incident, environ={"CHANNEL": "v2.10.0-"}))
    assert "certbot" not in from_environ


def test_lint_refuses_a_dotenv_line_compose_refuses_naming_file_and_line(incident: Path) -> None:
    (incident.parent / ".env").write_text("GOOD=1\nBAD KEY=2\n")
    with pytest.raises(ComposeFileError, match=r"/\.env: line 2: key cannot contain a space"):
        lint_compose(incident, environ={})


@pytest.mark.parametrize("tag", sorted(FLOATING_TAGS))
def test_lint_floating_tags_are_mutable(tmp_path: Path, tag: str) -> None:
    path = tmp_path / "compose.yml"
    path.write_text(f"services:\n  r:\n    image: redis:{tag}\n")
    (finding,) = lint_compose(path, environ={})
    assert f"mutable tag :{tag}" in finding.problem


def test_lint_moving_tags_from_the_config(tmp_path: Path) -> None:
    path = tmp_path / "compose.yml"
    path.write_text("services:\n  r:\n    image: redis:prod\n")
    assert lint_compose(path, environ={}) == []
    assert [f.service for f in lint_compose(path, environ={}, moving_tags={"prod"})] == ["r"]


def test_lint_reports_invalid_references(tmp_path: Path) -> None:
    path = tmp_path / "compose.yml"
    path.write_text(
        "services:\n  web:\n    image: Web/App:1\n  built:\n    build: .\n"
        "  odd:\n    image: app:${}\n"
    )
    web, odd = lint_compose(path, environ={})
    assert web.service == "web" and web.problem.startswith("not a valid image reference")
    assert odd.service == "odd" and odd.problem == "bad variable expression ${}"


@pytest.mark.parametrize(
    "text",
    ["image: [a]\n", "services: [a]\n", "services:\n  a: {image: x\n", "- just a list\n"],
)
def test_lint_rejects_what_is_not_a_compose_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "compose.yml"
    path.write_text(text)
    with pytest.raises(ComposeFileError, match=str(path)):
        lint_compose(path, environ={})


@pytest.mark.parametrize(
    ("text", "variables", "resolved", "empty"),
    [
        ("a:${T}", {"T": "1"}, "a:1", []),
        ("a:$T", {"T": "1"}, "a:1", []),
        ("a:${T}", {}, "a:", ["T"]),
        ("a:${T}", {"T": ""}, "a:", ["T"]),
        ("a:${T:-2}", {"T": ""}, "a:2", []),
        ("a:${T-2}", {"T": ""}, "a:", ["T"]),
        ("a:${T-2}", {}, "a:2", []),
        ("a:${T:-${U:-3}}", {}, "a:3", []),
        ("a:${T:-${U}}", {}, "a:", ["U"]),
        ("a:${T:?need T}", {}, "a:", ["T"]),
        ("a:${T:+x}", {"T": "1"}, "a:x", []),
        ("a:${T+x}", {}, "a:", []),
        ("a$$b", {}, "a$b", []),
        ("a:$", {}, "a:$", []),
        ("${R}/a:${T}", {}, "/a:", ["R", "T"]),
    ],
)
def test_interpolate(text: str, variables: dict[str, str], resolved: str, empty: list[str]) -> None:
    assert interpolate(text, variables) == (resolved, empty)


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("${APP_IMAGE}", "APP_IMAGE"),
        ("$APP_IMAGE", "APP_IMAGE"),
        ("${APP_IMAGE:?set APP_IMAGE}", "APP_IMAGE"),
        ("${APP_IMAGE:-app:v1}", "APP_IMAGE"),
        ("app:${TAG}", None),
        ("${REGISTRY}/app:1", None),
    ],
)
def test_whole_variable(value: str, name: str | None) -> None:
    assert whole_variable(value) == name


# --- pin ----------------------------------------------------------------------------------


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new)
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def test_pin_incident_rewrites_only_image_values(incident: Path) -> None:
    before = incident.read_text()
    after = pin_compose(incident, fake_digest)
    assert incident.read_text() == before  # returns the text, writes nothing
    changes = changed_lines(before, after)
    expected = {
        "  image: prom/node-exporter:latest   # shared through a merge key\n": (
            "prom/node-exporter:latest",
            "prom/node-exporter:latest",
        ),
        '    image: "postgres:15"   # quoted on purpose\n': ("postgres:15", "postgres:15"),
        "    image: 'redis:7.2'\n": ("redis:7.2", "redis:7.2"),
        "    image: nginx:latest\n": ("nginx:latest", "nginx:latest"),
        "    image: busybox\n": ("busybox", "busybox:latest"),
        "    image: willfarrell/autoheal\n": (
            "willfarrell/autoheal",
            "willfarrell/autoheal:latest",
        ),
        "    image: prom/prometheus:v2.51.0\n": ("prom/prometheus:v2.51.0",) * 2,
        "    image: grafana/grafana:10.4.1\n": ("grafana/grafana:10.4.1",) * 2,
        "    image: gcr.io/cadvisor/cadvisor:v0.49.1\n": ("gcr.io/cadvisor/cadvisor:v0.49.1",) * 2,
        "    image: mailhog/mailhog\n": ("mailhog/mailhog", "mailhog/mailhog:latest"),
    }
    assert {old for old, _ in changes} == set(expected)
    for old, new in changes:
        value, pinned = expected[old]
        digest = fake_digest(ImageRef.parse(value))
        assert new == old.replace(value, f"{pinned}@{digest}", 1)
    assert '"postgres:15@sha256:' in after and "'redis:7.2@sha256:" in after


def test_pinned_incident_only_fails_lint_on_the_unset_variable(incident: Path) -> None:
    incident.write_text(pin_compose(incident, fake_digest))
    failing = [f.service for f in lint_compose(incident, environ={}) if f.failing]
    assert failing == ["certbot"]


def test_pin_leaves_pinned_and_variable_images_alone_without_resolving(tmp_path: Path) -> None:
    path = tmp_path / "compose.yml"
    text = (
        f"services:\n  a:\n    image: ${{APP}}\n  b:\n    image: x:1@{PIN}\n  c:\n    image: r/$T\n"
    )
    path.write_text(text)

    def resolve(ref: ImageRef) -> str:
        raise AssertionError(ref)

    assert pin_compose(path, resolve) == text


def test_pin_example_changes_only_image_lines() -> None:
    before = EXAMPLE.read_text()
    changes = changed_lines(before, pin_compose(EXAMPLE, fake_digest))
    assert [old.split("image:")[1].strip() for old, _ in changes] == [
        "127.0.0.1:5000/dockyard/postgres:15",
        "127.0.0.1:5000/dockyard/redis:7.2",
        "127.0.0.1:5000/dockyard/caddy:2.6",
        "127.0.0.1:5000/dockyard/autoheal:latest",
        "127.0.0.1:5000/dockyard/busybox",
        "127.0.0.1:5002/dockyard/worker:1.0",
        "127.0.0.1:5000/dockyard/metrics:2.0",
    ]


@pytest.mark.parametrize(
    ("image", "problem"),
    [(">-\n      busybox:1", "cannot rewrite"), ("Bad/Name:1", "service a")],
)
def test_pin_refuses_what_it_cannot_rewrite(tmp_path: Path, image: str, problem: str) -> None:
    path = tmp_path / "compose.yml"
    path.write_text(f"services:\n  a:\n    image: {image}\n")
    with pytest.raises(ComposeFileError, match=problem):
        pin_compose(path, fake_digest)


# --- lint: what compose builds, includes and extends ------------------------------------------


def test_lint_skips_services_built_locally(tmp_path: Path) -> None:
    path = tmp_path / "compose.yml"
    path.write_text(
        "services:\n"
        "  built: {build: .}\n"
        "  tagged-build: {build: ., image: 'shop/app:latest', pull_policy: build}\n"
        "  never: {image: 'local/tool', pull_policy: never}\n"
        "  pulled: {build: ., image: 'shop/app:latest'}\n"
        "  nothing: {command: [true]}\n"
    )
    findings = lint_compose(path, environ={})
    assert [(f.service, f.line) for f in findings] == [("never", 4), ("pulled", 5), ("nothing", 6)]
    assert "pull_policy: never and no build: compose never pulls it" in findings[0].problem
    assert "no image and no build" in findings[2].problem


def test_lint_follows_include_strings_and_paths(tmp_path: Path) -> None:
    (tmp_path / "parts" / "deep").mkdir(parents=True)
    (tmp_path / "compose.yml").write_text(
        "include:\n  - parts/db.yml\n  - path: [parts/cache.yml]\nservices:\n  a: {image: a:1}\n"
    )
    (tmp_path / "parts" / "db.yml").write_text(
        "include: [deep/tools.yml]\nservices:\n  db: {image: 'postgres'}\n"
    )
    (tmp_path / "parts" / "cache.yml").write_text("services:\n  cache: {image: 'redis:alpine'}\n")
    (tmp_path / "parts" / "deep" / "tools.yml").write_text(
        "include: [../db.yml]\nservices:\n  t: {image: 'busybox:nightly'}\n"
    )
    findings = lint_compose(tmp_path / "compose.yml", environ={})
    assert [(Path(f.file).relative_to(tmp_path).as_posix(), f.service) for f in findings] == [
        ("parts/db.yml", "db"),
        ("parts/deep/tools.yml", "t"),
        ("parts/cache.yml", "cache"),
    ]


def test_lint_follows_extends_to_the_image_line(tmp_path: Path) -> None:
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "base.yml").write_text(
        "services:\n  base:\n    image: 'shop/app:stable'\n  built: {build: .}\n"
    )
    (tmp_path / "compose.yml").write_text(
        "services:\n"
        "  web: {extends: {file: common/base.yml, service: base}}\n"
        "  worker: {extends: web}\n"
        "  local: {extends: {file: common/base.yml, service: built}}\n"
        "  own: {extends: web, image: 'shop/app:2'}\n"
    )
    findings = lint_compose(tmp_path / "compose.yml", environ={})
    assert [(f.services, f.file, f.line) for f in findings] == [
        (("web", "worker"), str(tmp_path / "common" / "base.yml"), 3),
    ]
    assert ": error: services web, worker: shop/app:stable: mutable tag :stable" in str(findings[0])


def test_lint_config_uses_stack_env_and_moving_tags(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from deployments.cli import main

    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "compose.yml").write_text(
        "services:\n"
        "  app: {image: 'shop/app:${APP_TAG}'}\n"
        "  db: {image: 'postgres:${DB_TAG}'}\n"
        "  cache: {image: 'redis:${CACHE_TAG}'}\n"
        "  key: {image: 'shop/key:${KEY}'}\n"
    )
    (tmp_path / "deploy.yaml").write_text(
        "images: {moving_tags: [lts]}\n"
        "stacks:\n"
        "  - bundle: ./stack\n"
        "    compose_files: [compose.yml]\n"
        "    env: {APP_TAG: '${TAG:-lts}', DB_TAG: 16, CACHE_TAG: '${CACHE}',"
        " KEY: '${secret:KEY}'}\n"
    )
    result = CliRunner(env={"CACHE": "7.2", "KEY": "hidden-value"}).invoke(
        main, ["lint", "-c", str(tmp_path / "deploy.yaml")]
    )
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert [line.split(": ")[2] for line in lines] == ["service app", "service key"]
    assert "mutable tag :lts" in lines[0]
    assert "${KEY} resolves to nothing" in lines[1] and "hidden-value" not in result.output
    fixed = CliRunner().invoke(
        main, ["lint", "-c", str(tmp_path / "deploy.yaml"), "--set", "TAG=v3", "--set", "CACHE=7"]
    )
    assert [line.split(": ")[2] for line in fixed.stdout.splitlines()] == ["service key"]


def test_lint_config_of_the_example_needs_no_key_or_secret() -> None:
    from click.testing import CliRunner

    from deployments.cli import main

    result = CliRunner(env={"DB_PASSWORD": None, "LAB_REGISTRY_PASSWORD": None}).invoke(
        main, ["lint", "-c", str(EXAMPLE.parents[1] / "deploy.yaml")]
    )
    assert result.exit_code == 1, result.output
    failing = [line for line in result.stdout.splitlines() if ": error: " in line]
    assert [line.split(": ")[2] for line in failing] == ["service autoheal", "service tools"]


def test_lint_config_reads_the_bundle_dotenv_under_the_stack_env(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from deployments.cli import main

    (tmp_path / "compose.yml").write_text(
        "x-snuba: &snuba\n  image: '$SNUBA_IMAGE'\n"
        "services:\n"
        "  a: {image: 'x:${TAG}'}\n"
        "  snuba-api: *snuba\n"
        "  snuba-consumer: *snuba\n"
        "  relay: {image: '$RELAY_IMAGE'}\n"
    )
    (tmp_path / ".env").write_text(
        "TAG=1\nSNUBA_IMAGE=ghcr.io/getsentry/snuba:nightly\nRELAY_IMAGE=ghcr.io/getsentry/relay:nightly\n"
    )
    (tmp_path / "deploy.yaml").write_text(
        "stacks:\n  - bundle: .\n    compose_files: [compose.yml]\n"
        "    env: {RELAY_IMAGE: 'ghcr.io/getsentry/relay:${RELAY_TAG:-25.1.0}'}\n"
    )
    result = CliRunner().invoke(main, ["lint", "-c", str(tmp_path / "deploy.yaml")])
    assert result.exit_code == 1, result.output
    (line,) = result.stdout.splitlines()  # one finding for the two services, relay pinned
    assert (
        ":2: error: services snuba-api, snuba-consumer: $SNUBA_IMAGE: mutable tag :nightly" in line
    )
    moved = CliRunner().invoke(
        main, ["lint", "-c", str(tmp_path / "deploy.yaml"), "--set", "RELAY_TAG=nightly"]
    )
    assert "service relay: $RELAY_IMAGE: mutable tag :nightly" in moved.stdout


@pytest.mark.parametrize(
    ("option", "named"),
    [
        ("RELAY_TG=1", ["--set RELAY_TG: no ${RELAY_TG}", "did you mean --set RELAY_TAG=...?"]),
        ("A B=1", ["'A B=1' is not NAME=VALUE"]),
    ],
)
def test_lint_config_refuses_a_set_that_goes_nowhere(
    tmp_path: Path, option: str, named: list[str]
) -> None:
    from click.testing import CliRunner

    from deployments.cli import main

    (tmp_path / "compose.yml").write_text("services:\n  a: {image: 'x:${RELAY_TAG:-1}'}\n")
    (tmp_path / "deploy.yaml").write_text(
        "stacks:\n  - {bundle: ., compose_files: [compose.yml]}\n"
    )
    result = CliRunner().invoke(
        main, ["lint", "-c", str(tmp_path / "deploy.yaml"), "--set", option]
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    for text in named:
        assert text in result.stderr
    used = CliRunner().invoke(
        main, ["lint", "-c", str(tmp_path / "deploy.yaml"), "--set", "RELAY_TAG=2"]
    )
    assert used.exit_code == 0, used.output


def test_pin_skips_services_built_locally(tmp_path: Path) -> None:
    path = tmp_path / "compose.yml"
    text = (
        "services:\n"
        "  app: {build: ., image: 'shop/app:1', pull_policy: build}\n"
        "  tool: {image: 'local/tool:1', pull_policy: never}\n"
        "  only-built: {build: .}\n"
        "  db: {image: 'postgres:16'}\n"
    )
    path.write_text(text)
    pinned = pin_compose(path, fake_digest)
    assert changed_lines(text, pinned) == [
        (
            "  db: {image: 'postgres:16'}\n",
            f"  db: {{image: 'postgres:16@{fake_digest(ImageRef.parse('postgres:16'))}'}}\n",
        )
    ]


def test_lint_default_that_is_not_an_image_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "compose.yml"
    path.write_text(
        "x-airflow: &airflow\n  image: ${AIRFLOW_IMAGE_NAME:-apache/airflow:|version|}\n"
        "services:\n  webserver: *airflow\n  scheduler: *airflow\n"
    )
    (finding,) = lint_compose(path, environ={})
    assert finding.failing and finding.services == ("webserver", "scheduler")
    assert finding.problem.startswith(
        "resolves to 'apache/airflow:|version|', not a valid image reference: tag '|version|'"
    )
    assert lint_compose(path, environ={"AIRFLOW_IMAGE_NAME": "apache/airflow:2.10.5"}) == []


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("'foo:'", "not a valid image reference: tag after ':' is empty"),
        ("foo:${EMPTY}", "variable ${EMPTY} resolves to nothing (the image would be 'foo:')"),
        ("foo:${EMPTY:-}", "resolves to 'foo:', not a valid image reference: tag after ':' is"),
    ],
)
def test_lint_empty_tag_is_a_clear_error(tmp_path: Path, image: str, problem: str) -> None:
    path = tmp_path / "compose.yml"
    path.write_text(f"services:\n  a:\n    image: {image}\n")
    (finding,) = lint_compose(path, environ={})
    assert finding.failing and problem in finding.problem
    path.write_text("services:\n  a:\n    image: foo:\n")  # YAML reads a mapping here
    with pytest.raises(ComposeFileError, match=":3: YAML syntax error"):
        lint_compose(path, environ={})


def test_lint_config_merges_base_and_overlay_files(tmp_path: Path) -> None:
    (tmp_path / "proxy").mkdir()
    (tmp_path / "compose.yml").write_text(
        "services:\n  app: {image: 'plausible/analytics:v2.0'}\n  db: {image: 'postgres:16'}\n"
    )
    (tmp_path / "proxy" / "overlay.yml").write_text(
        "services:\n  app: {labels: {virtual.host: example.com}}\n"
        "  db: {image: 'postgres:latest'}\n  caddy: {image: 'caddy:2.8'}\n"
    )
    from dockyard.lint.compose import lint_files

    files = [tmp_path / "compose.yml", tmp_path / "proxy" / "overlay.yml"]
    (finding,) = lint_files(files, {})
    assert (finding.services, finding.image, finding.line) == (("db",), "postgres:latest", 3)
    assert finding.file == str(files[1])


def test_pin_goes_on_past_failures_and_names_every_image_left_unpinned(tmp_path: Path) -> None:
    from dockyard.images.errors import ManifestUnknown, RegistryUnavailable
    from dockyard.lint.pin import pin_report

    path = tmp_path / "compose.yml"
    path.write_text(
        "services:\n"
        "  server: {image: 'ghcr.io/immich-app/immich-server:${IMMICH_VERSION:-release}'}\n"
        "  ml: {image: 'ghcr.io/immich-app/immich-server:${IMMICH_VERSION:-release}'}\n"
        "  down: {image: 'down.example:5000/app:1'}\n"
        "  db: {image: 'postgres:16'}\n"
        "  gone: {image: 'shop/gone:1'}\n"
    )

    def resolve(ref: ImageRef) -> str:
        if ref.registry == "down.example:5000":
            raise RegistryUnavailable("connection refused", registry=ref.registry)
        if ref.repository == "shop/gone":
            raise ManifestUnknown("manifest unknown", registry=ref.registry)
        return fake_digest(ref)

    report = pin_report(path, resolve)
    assert f"postgres:16@{fake_digest(ImageRef.parse('postgres:16'))}" in report.text
    problems = report.problems()
    assert len(problems) == 3 and report.exit_code == 2
    assert "services server, ml: ghcr.io/immich-app/immich-server:${IMMICH_VERSION:-release}:" \
        " not pinned: the image is set through a variable" in problems[0]  # fmt: skip
    assert ":4: service down: cannot pin down.example:5000/app:1" in problems[1]
    assert ":6: service gone: cannot pin shop/gone:1" in problems[2]
    path.write_text("services:\n  down: {image: 'down.example:5000/app:1'}\n")
    assert pin_report(path, resolve).exit_code == 1
    path.write_text("services:\n  v: {image: 'app:${TAG}'}\n  db: {image: 'postgres:16'}\n")
    assert pin_report(path, resolve).exit_code == 1
    path.write_text("services:\n  db: {image: 'postgres:16'}\n")
    assert pin_report(path, resolve).exit_code == 0


def test_lint_reads_a_pull_policy_set_through_a_variable(tmp_path: Path) -> None:
    path = tmp_path / "compose.yml"
    path.write_text("services:\n  a: {image: 'tool:1', pull_policy: '${PULL_POLICY:-always}'}\n")
    assert lint_compose(path, environ={}) == []
    (finding,) = lint_compose(path, environ={"PULL_POLICY": "never"})
    assert finding.problem.startswith("pull_policy: never and no build")


def test_pin_notes_per_deploy_images_without_failing(tmp_path: Path) -> None:
    from dockyard.lint.pin import pin_report

    path = tmp_path / "compose.yml"
    path.write_text(
        "services:\n  app: {image: '${APP_IMAGE:?set APP_IMAGE}'}\n  db: {image: 'postgres:16'}\n"
    )
    report = pin_report(path, fake_digest)
    assert report.exit_code == 0
    (note,) = report.problems()
    assert "service app: ${APP_IMAGE:?set APP_IMAGE}: note: given per deploy" in note
