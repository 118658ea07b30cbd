"""Pure tests of the .env renderer: literal single-quoted values, refusals that hide the value."""

from __future__ import annotations

import pytest

from dockyard.compose.envfile import EnvValueError, quote, render


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


class TestRefusals:
    @pytest.mark.parametrize("value", ["s3cr'et-Xy9", "Xy9-line1\nZq7-line2", "Xy9-cr\rZq7-value"])
    def test_quote_or_line_break_names_the_key_not_the_value(self, value: str) -> None:
        with pytest.raises(EnvValueError) as info:
            render({"DB_PASSWORD": value, "OTHER": "fine"})
        message = str(info.value)
        assert "DB_PASSWORD" in message
        assert value not in message
        for piece in value.replace("'", "\n").replace("\r", "\n").splitlines():
            assert piece not in message

    @pytest.mark.parametrize("key", ["1ABC", "A-B", "A B", "", "É", "A=B", "A\nB", "A\n"])
    def test_invalid_keys_are_rejected(self, key: str) -> None:
        with pytest.raises(EnvValueError, match="not a valid variable name"):
            render({key: "value"})

    def test_quote_alone(self) -> None:
        assert quote("K", "a$b") == "'a$b'"
        with pytest.raises(EnvValueError, match="K"):
            quote("K", "'")
