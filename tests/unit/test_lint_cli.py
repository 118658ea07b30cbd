"""`dockyard lint` and `dockyard pin` on bad input: exit 2 with one line naming the file (and line
or field) and the fix, never a traceback; exit 1 for findings or an unreachable registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dockyard.cli import main
from tests.unit.test_yamlsafe import BOMB


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def assert_bad_input(result: Result, *named: str) -> str:
    """Exit 2, no traceback, one line on stderr that names each of `named`."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    for text in named:
        assert text in line
    return line


COMPOSE_CASES = {
    "not YAML": (b"services:\n  a: {image: x\n", ["YAML syntax error", ":3:", "fix the YAML"]),
    "empty": (b"", ["the compose file is empty", "add a services: mapping"]),
    "only a comment": (b"# nothing\n", ["the compose file is empty"]),
    "not UTF-8": (b"services:\n  a: {image: \xff}\n", ["not UTF-8", "save it as UTF-8"]),
    "a list": (b"- a\n- b\n", ["not a compose file (not a mapping)", ":1:"]),
    "a scalar": (b"hello\n", ["not a compose file"]),
    "no services": (b"name: shop\n", ["no services: mapping"]),
    "services a list": (b"services: [a, b]\n", ["services is not a mapping", ":1:"]),
    "service a string": (b"services:\n  a: nginx\n", ["service a is not a mapping", ":2:"]),
    "image a list": (b"services:\n  a:\n    image: [x]\n", ["service a: image is not a string"]),
    "image a mapping": (b"services:\n  a:\n    image: {x: 1}\n", ["image is not a string", ":3:"]),
    "image empty": (b"services:\n  a:\n    image:\n", ["service a: image is not a string"]),
    "duplicate key": (b"services:\n  a: {image: x:1}\n  a: {image: y:1}\n", ["duplicate key 'a'"]),
    "alias bomb": (BOMB.encode(), ["aliases", "use fewer nested aliases"]),
    "pull_policy a list": (
        b"services:\n  a: {image: x:1, pull_policy: [never]}\n",
        ["service a: pull_policy is not a string"],
    ),
    "include a string": (b"include: other.yml\n", ["include is not a list"]),
    "include without path": (b"include:\n  - {env_file: a}\n", ["include entry has no path"]),
    "include missing": (b"include: [gone.yml]\n", ["include gone.yml: no such file", ":1:"]),
    "include path a mapping": (b"include:\n  - path: {a: 1}\n", ["include path is not a string"]),
    "extends a list": (
        b"services:\n  a: {extends: [b]}\n",
        ["service a: extends is not a mapping", "{file:, service:}"],
    ),
    "extends without service": (
        b"services:\n  a: {extends: {file: b.yml}}\n",
        ["service a: extends has no service"],
    ),
    "extends missing file": (
        b"services:\n  a:\n    extends: {file: b.yml, service: x}\n",
        ["extends file b.yml: no such file", ":3:"],
    ),
    "extends unknown service": (
        b"services:\n  a: {extends: nope}\n",
        ["service a extends nope, which compose.yml does not define"],
    ),
    "extends loop": (
        b"services:\n  a: {extends: b}\n  b: {extends: a}\n",
        ["extends loops back to itself"],
    ),
    "env_file entry without path": (
        b"services:\n  a: {image: x:1, env_file: [{required: false}]}\n",
        ["env_file entry has no path"],
    ),
}


@pytest.mark.parametrize("case", sorted(COMPOSE_CASES))
def test_lint_bad_compose_file(tmp_path: Path, case: str) -> None:
    content, named = COMPOSE_CASES[case]
    path = tmp_path / "compose.yml"
    path.write_bytes(content)
    line = assert_bad_input(run("lint", str(path)), str(path), *named)
    assert line.startswith("lint: ")


@pytest.mark.parametrize("case", ["not YAML", "empty", "not UTF-8", "services a list", "alias bomb",
                                  "image a list", "service a string"])  # fmt: skip
def test_pin_bad_compose_file(tmp_path: Path, case: str) -> None:
    content, named = COMPOSE_CASES[case]
    path = tmp_path / "compose.yml"
    path.write_bytes(content)
    assert_bad_input(run("pin", str(path)), str(path), *named)


def test_lint_bad_include_is_named_by_its_own_file(tmp_path: Path) -> None:
    (tmp_path / "compose.yml").write_text("include:\n  - path: [parts/db.yml]\n")
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "db.yml").write_text("services:\n  db:\n    image: [postgres]\n")
    assert_bad_input(
        run("lint", str(tmp_path / "compose.yml")), f"{tmp_path}/parts/db.yml:3", "image"
    )


def test_lint_bad_dotenv(tmp_path: Path) -> None:
    (tmp_path / "compose.yml").write_text("services:\n  a: {image: x:1}\n")
    (tmp_path / ".env").write_bytes(b"A=\xff\n")
    assert_bad_input(run("lint", str(tmp_path / "compose.yml")), f"{tmp_path}/.env", "UTF-8")


@pytest.mark.parametrize("command", ["lint", "pin"])
def test_missing_compose_file(tmp_path: Path, command: str) -> None:
    path = tmp_path / "nope.yml"
    assert_bad_input(run(command, str(path)), str(path), "No such file", "check the path")


def test_a_directory_is_not_a_compose_file(tmp_path: Path) -> None:
    assert_bad_input(run("lint", str(tmp_path)), str(tmp_path), "cannot read")


def test_lint_needs_one_of_file_or_config(tmp_path: Path) -> None:
    for args in ([], ["x.yml", "-c", "d.yaml"]):
        result = run("lint", *args)
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert "give a compose file or -c deploy.yaml" in result.output


CONFIG_CASES = {
    "missing": (None, ["cannot read the config file", "No such file"]),
    "not YAML": ("stacks: [\n", ["YAML syntax error"]),
    "empty": ("", ["the config file is empty"]),
    "a list": ("- a\n", ["the config file: not a mapping"]),
    "no stacks": ("targets: []\n", ["stacks: missing or not a list"]),
    "stack a string": ("stacks: [shop]\n", ["stacks[0]: not a mapping"]),
    "bundle a list": ("stacks:\n  - bundle: [a]\n", ["stacks[0].bundle: not a path"]),
    "bundle missing": ("stacks:\n  - bundle: ./gone\n", ["stacks[0].bundle: directory", "gone"]),
    "compose_files a string": (
        "stacks:\n  - {bundle: ., compose_files: c.yml}\n",
        ["stacks[0].compose_files: not a list of strings"],
    ),
    "compose file missing": (
        "stacks:\n  - {bundle: ., compose_files: [gone.yml]}\n",
        ["stacks[0].compose_files[0]:", "gone.yml is not a file", "relative to the bundle"],
    ),
    "env a list": (
        "stacks:\n  - {bundle: ., compose_files: [c.yml], env: [A]}\n",
        ["stacks[0].env: not a mapping"],
    ),
    "moving_tags a string": (
        "images: {moving_tags: stable}\nstacks:\n  - {bundle: ., compose_files: [c.yml]}\n",
        ["images.moving_tags: not a list of strings"],
    ),
    "images a list": ("images: [a]\nstacks: []\n", ["images: not a mapping"]),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_lint_bad_config(tmp_path: Path, case: str) -> None:
    text, named = CONFIG_CASES[case]
    config = tmp_path / "deploy.yaml"
    (tmp_path / "c.yml").write_text("services:\n  a: {image: x:1}\n")
    if text is not None:
        config.write_text(text)
    assert_bad_input(run("lint", "-c", str(config)), str(config), *named)


def test_lint_config_with_a_bad_compose_file(tmp_path: Path) -> None:
    (tmp_path / "c.yml").write_text("services: 3\n")
    (tmp_path / "deploy.yaml").write_text("stacks:\n  - {bundle: ., compose_files: [c.yml]}\n")
    assert_bad_input(
        run("lint", "-c", str(tmp_path / "deploy.yaml")), f"{tmp_path}/c.yml:1", "services"
    )


def test_lint_exit_codes_for_findings_and_clean(tmp_path: Path) -> None:
    path = tmp_path / "compose.yml"
    path.write_text("services:\n  a: {image: 'x:1'}\n")
    assert run("lint", str(path)).exit_code == 0
    path.write_text("services:\n  a: {image: 'x:edge'}\n")
    result = run("lint", str(path))
    assert result.exit_code == 1
    assert result.stdout == f"{path}:2: error: service a: x:edge: mutable tag :edge: its content" \
        " can change between deploys; pin a version tag or tag@digest (dockyard pin)\n"  # fmt: skip


def test_pin_unreachable_registry_names_the_image(tmp_path: Path) -> None:
    path = tmp_path / "compose.yml"
    text = "services:\n  a:\n    image: 127.0.0.1:1/shop/app:1\n"
    path.write_text(text)
    result = run("pin", "--write", str(path))
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"pin: {path}:3: service a: cannot pin 127.0.0.1:1/shop/app:1: ")
    assert line.endswith("check that the registry is reachable and retry")
    assert path.read_text() == text


def test_pin_invalid_reference(tmp_path: Path) -> None:
    path = tmp_path / "compose.yml"
    path.write_text("services:\n  a:\n    image: Bad/Name:1\n")
    assert_bad_input(run("pin", str(path)), f"{path}:3", "service a", "fix the image reference")


def test_pin_reports_every_unreachable_registry_and_skipped_image(tmp_path: Path) -> None:
    path = tmp_path / "compose.yml"
    text = (
        "services:\n  a: {image: '127.0.0.1:1/shop/a:1'}\n  b: {image: '127.0.0.1:1/shop/b:1'}\n"
        "  c: {image: 'shop/c:${TAG:-release}'}\n"
    )
    path.write_text(text)
    result = run("pin", "--write", str(path))
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 3
    assert "service c: shop/c:${TAG:-release}: not pinned" in lines[0]
    assert "service a: cannot pin 127.0.0.1:1/shop/a:1" in lines[1]
    assert "service b: cannot pin 127.0.0.1:1/shop/b:1" in lines[2]
    assert path.read_text() == text
