"""The .env reader against compose-go's own dotenv test cases (quotes, comments, export,
escapes, interpolation) and the merge of a bundle's .env with the stack's env."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.compose.dotenv import DotenvError, parse, substitute
from dockyard.config.stack import project_environment

QUOTED = """OPTION_A='1'
OPTION_B='2'
OPTION_C=''
OPTION_D='\\n'
OPTION_E="1"
OPTION_F="2"
OPTION_G=""
OPTION_H="\\n"
OPTION_I = "echo 'asd'" # Inline comment
OPTION_J = 'first line
second line
third line
and so on'
OPTION_K='Let\\'s go!'
OPTION_Z = "last value"
"""


def test_compose_gos_quoted_fixture() -> None:
    assert parse(QUOTED) == {
        "OPTION_A": "1", "OPTION_B": "2", "OPTION_C": "", "OPTION_D": "\\n", "OPTION_E": "1",
        "OPTION_F": "2", "OPTION_G": "", "OPTION_H": "\n", "OPTION_I": "echo 'asd'",
        "OPTION_J": "first line\nsecond line\nthird line\nand so on", "OPTION_K": "Let's go!",
        "OPTION_Z": "last value",
    }  # fmt: skip


def test_comments_export_yaml_style_and_inline_comments() -> None:
    text = (
        "# a comment\n\n  export A=1\nB: two\nC=x #comment\nD=x#not-comment\n"
        'E="quoted # kept"\n  # indented comment\nF=  spaced  \n'
    )
    assert parse(text) == {"A": "1", "B": "two", "C": "x", "D": "x#not-comment",
                           "E": "quoted # kept", "F": "spaced"}  # fmt: skip


def test_interpolation_uses_the_lookup_first_then_earlier_lines() -> None:
    text = "A=1\nB=${A}-$A\nC='${A}'\nD=\"${A}\\t$$A\"\nE=${UNSET:-def}\nF=${A:+alt}\nG=$${A}\n"
    assert parse(text) == {"A": "1", "B": "1-1", "C": "${A}", "D": "1\t$A", "E": "def",
                           "F": "alt", "G": "${A}"}  # fmt: skip
    looked = parse(text, {"A": "from-stack"}.get)
    assert looked["B"] == "from-stack-from-stack" and looked["A"] == "1"


def test_defaults_nest_and_operators_follow_compose() -> None:
    env = {"EMPTY": "", "SET": "v"}.get
    cases = {
        "${UNSET-d}": "d", "${EMPTY-d}": "", "${EMPTY:-d}": "d", "${SET:-d}": "v",
        "${UNSET:+a}": "", "${EMPTY+a}": "a", "${UNSET:-${SET}x}": "vx",
        "pre ${UNSET:-a} mid ${SET} post": "pre a mid v post", "$1 and $": "$1 and $",
        "${SET}${SET}": "vv",
    }  # fmt: skip
    assert {t: substitute(t, env) for t in cases} == cases


def test_required_variables_fail_naming_the_line() -> None:
    with pytest.raises(DotenvError, match="line 2: required variable DB is missing a value: set"):
        parse("A=1\nURL=${DB:?set it}\n")
    assert parse("URL=${DB:?set it}\n", {"DB": "x"}.get) == {"URL": "x"}


def test_key_alone_is_taken_from_the_lookup() -> None:
    assert parse("TOKEN\nA=1\n", {"TOKEN": "t"}.get) == {"TOKEN": "t", "A": "1"}
    assert parse("TOKEN\nA=1\n") == {"A": "1"}


@pytest.mark.parametrize(
    ("text", "message"),
    [("A B=1\n", "line 1: key cannot contain a space"), ("A$=1\n", "unexpected character"),
     ("A='open\nB=2\n", "unterminated quoted value"), ("A=${\n", "invalid interpolation")],
)  # fmt: skip
def test_what_compose_refuses(text: str, message: str) -> None:
    with pytest.raises(DotenvError, match=message):
        parse(text)


def test_octal_and_unknown_escapes_in_double_quotes() -> None:
    assert parse('A="\\0123 \\012 \\c \\x"\n') == {"A": "S \\012 \\c \\x"}


class TestProjectEnvironment:
    def test_no_bundle_env_is_the_stack_env(self, tmp_path: Path) -> None:
        assert project_environment(tmp_path, {"A": "1"}) == {"A": "1"}

    def test_stack_values_win_and_feed_the_files_interpolation(self, tmp_path: Path) -> None:
        (tmp_path / ".env").write_text(
            "VERSION=1.29.1\nDB_HOST=db\nDB_URL=postgres://${DB_HOST}/app\n# x\nexport USER='u'\n"
        )
        merged = project_environment(tmp_path, {"DB_HOST": "prod-db", "EXTRA": "e"})
        assert merged == {"VERSION": "1.29.1", "DB_HOST": "prod-db", "EXTRA": "e",
                          "DB_URL": "postgres://prod-db/app", "USER": "u"}  # fmt: skip

    def test_a_bad_line_names_the_file(self, tmp_path: Path) -> None:
        (tmp_path / ".env").write_text("GOOD=1\nBAD KEY=2\n")
        with pytest.raises(DotenvError, match=r"\.env: line 2: key cannot contain a space"):
            project_environment(tmp_path, {})
