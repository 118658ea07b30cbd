"""Pure tests of the .env renderer: every value reads back literally by compose's dotenv rules
(tests/unit/test_dotenv.py's parser is a port of compose-go's)."""

from __future__ import annotations

import pytest

from dockyard.compose.dotenv import parse
from dockyard.envfile import EnvValueError, quote, render


class TestRender:
    def test_values_are_single_quoted_literally(self) -> None:
        out = render({"PASSWORD": r"p$a\ss${HOME}\n`x`", "EMPTY": "", "SPACE": " a b "})
        assert out == b"EMPTY=''\nPASSWORD='p$a\\ss${HOME}\\n`x`'\nSPACE=' a b '\n"

    def test_sorted_by_key(self) -> None:
        out = render({"b": "2", "A": "1", "_Z": "3", "a": "4"}).decode().splitlines()
        assert [line.split("=", 1)[0] for line in out] == ["A", "_Z", "a", "b"]

    def test_empty_env_is_one_newline(self) -> None:
        assert render({}) == b"\n"

    def test_returns_bytes_with_utf8(self) -> None:
        assert render({"GREETING": "grüß"}) == "GREETING='grüß'\n".encode()

    @pytest.mark.parametrize(
        "value",
        ["s3cr'et", "line1\nline2", "cr\rvalue", "ends\\", "it's $HOME ${X:-y} \\n \"q\" \\",
         "'", "\\'", "$$", "a\\\nb", "\t#x", " #not a comment", "\\0123", "x\\"],
    )  # fmt: skip
    def test_any_value_reads_back_as_written(self, value: str) -> None:
        env = {"V": value, "OTHER": "x"}
        assert parse(render(env).decode(), lambda _: "FROM-LOOKUP") == env

    def test_quotes_that_single_quotes_cannot_carry_go_double(self) -> None:
        assert quote("a$b") == "'a$b'"
        assert quote("it's $x") == '"it\'s $$x"'
        assert quote("a\\") == '"a\\\\"'
        assert quote("a\nb") == '"a\\nb"'


class TestRefusals:
    @pytest.mark.parametrize("key", ["A B", "", "A=B", "A\nB", "A\n", "A#"])
    def test_invalid_keys_are_rejected(self, key: str) -> None:
        with pytest.raises(EnvValueError, match="not a valid variable name"):
            render({key: "value"})

    @pytest.mark.parametrize("key", ["A.B", "A-B", "list[0]", "1ABC"])
    def test_keys_compose_reads_are_kept(self, key: str) -> None:
        assert parse(render({key: "v"}).decode()) == {key: "v"}
