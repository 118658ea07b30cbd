"""Pure tests of the .env renderer: literal single-quoted values, refusals that hide the value."""

from __future__ import annotations

import re

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


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            '"': '"', "\\": "\\", "$": "$$"}  # fmt: skip


def compose_reads(text: str) -> dict[str, str]:
    """The .env as compose reads it: compose-go's dotenv/parser.go (extractVarValue,
    expandEscapes, then template substitution where `$$` is a literal `$`), for KEY=VALUE lines."""
    out: dict[str, str] = {}
    rest = text
    while rest.strip():
        rest = rest.lstrip()
        key, _, rest = rest.partition("=")
        quote = rest[:1]
        if quote not in ("'", '"'):
            value, _, rest = rest.partition("\n")
            out[key] = value
            continue
        chars, escaped, end = [], False, None
        for i in range(1, len(rest)):
            char = rest[i]
            if char != quote:
                if not escaped and char == "\\":
                    escaped = True
                    continue
                if escaped:
                    escaped = False
                    chars.append("\\")
                chars.append(char)
                continue
            if escaped:
                escaped = False
                chars.append(char)
                continue
            end = i
            break
        assert end is not None, f"unterminated quoted value for {key}"
        value, rest = "".join(chars), rest[end + 1 :]
        if quote == '"':
            value = re.sub(r'\\([abcfnrtv$"\\])', lambda m: _ESCAPES[m.group(1)], value)
            assert not re.search(r"(?<!\$)\$(?!\$)[A-Za-z_{]", value.replace("$$", "")), value
            value = value.replace("$$", "$")
        out[key] = value
    return out


class TestComposeReadsItBack:
    @pytest.mark.parametrize(
        "value",
        ["ends-in\\", "two\\\\", "three\\\\\\", "mid\\dle", 'q"uote\\', "$HOME\\", "${X}$$\\",
         "\\", "", "plain", "p$a\\ss${HOME}\\n`x`"],
    )  # fmt: skip
    def test_every_value_round_trips_and_never_touches_the_next_line(self, value: str) -> None:
        env = {"A_FIRST": value, "B_NEXT": "next-value"}
        assert compose_reads(render(env).decode()) == env

    def test_a_trailing_backslash_used_to_swallow_the_next_variable(self) -> None:
        assert compose_reads("A='x\\'\nB='y'\n") != {"A": "x\\", "B": "y"}  # the old rendering
        assert render({"A": "x\\"}) == b'A="x\\\\"\n'
