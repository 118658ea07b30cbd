"""Replace secret values with *** in text that leaves dockyard: logs, errors, reports, artifacts.

Masking happens where text leaves (log lines, the exception leaving a step task, the report and
its artifacts), never on values passed between steps. A Masker holds each secret with the forms
it is printed in (base64, URL-encoded, JSON-escaped); the config's non-secret values (project
names, paths, image refs) that contain a secret are shown whole, so a secret that happens to be
a part of them does not corrupt them (`dockyard validate` warns about such secrets)."""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_SECRET_CHARS = 6  # shorter secrets are refused by the config: masking them would mask prose
_MIN_RAW_CHARS = 3  # below this a value is never masked (it would mask ordinary text)


def _base64_forms(raw: bytes) -> set[str]:
    """The secret's base64 text at each of the three byte alignments it can have inside a
    longer encoded value (`user:password` in a Basic header), cut to the characters that
    depend on the secret's bytes alone."""
    found = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        start = -(-offset * 8 // 6)
        end = (offset + len(raw)) * 8 // 6
        for text in (encoded, encoded.replace("+", "-").replace("/", "_")):
            found.add(text[start:end])
    return found


def forms(secret: str) -> set[str]:
    """`secret` and the forms output may carry it in: base64 (any alignment, standard and
    URL-safe alphabet), URL-encoded (quote, quote_plus) and JSON-escaped."""
    found = {secret}
    if len(secret) < MIN_SECRET_CHARS:
        return found
    found |= {quote(secret), quote(secret, safe=""), quote_plus(secret)}
    found |= {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    found |= {f for f in _base64_forms(secret.encode()) if len(f) >= MIN_SECRET_CHARS}
    return found


class Masker:
    """Masks a fixed set of secret values and their printed forms (longest first, so overlaps
    mask fully); a `public` value that strictly contains a secret is left whole."""

    def __init__(self, secrets: Iterable[str] = (), public: Iterable[str] = ()) -> None:
        self._secrets = frozenset(f for s in secrets if len(s) >= _MIN_RAW_CHARS for f in forms(s))
        kept = {p for p in public if any(s in p and s != p for s in self._secrets)}
        alternatives = sorted(self._secrets | (kept - self._secrets), key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(map(re.escape, alternatives))) if self._secrets else None
        )

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        return MASK if match.group() in self._secrets else match.group()

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def value(self, value: Any) -> Any:
        """`value` with every string inside it masked (str, bytes, lists, tuples, dicts,
        dataclass-like objects' attributes); other values as they are."""
        if not self._secrets:
            return value
        return self._value(value, 0)

    def exception(self, exc: BaseException) -> BaseException:
        """A copy of `exc` of the same type whose message, string attributes and chained
        causes are masked; `exc` itself is left as it was."""
        return self._exception(exc, 0)

    def _exception(self, exc: BaseException, depth: int) -> BaseException:
        try:
            masked = type(exc).__new__(type(exc))
        except TypeError:
            return RuntimeError(f"{type(exc).__name__}: {self(str(exc))}")
        masked.args = tuple(self._value(a, depth + 1) for a in exc.args)
        for key, val in list(vars(exc).items()):
            setattr(masked, key, self._value(val, depth + 1))
        if exc.__cause__ is not None and depth < 8:
            masked.__cause__ = self._exception(exc.__cause__, depth + 1)
        elif exc.__context__ is not None and not exc.__suppress_context__ and depth < 8:
            masked.__context__ = self._exception(exc.__context__, depth + 1)
        masked.__suppress_context__ = exc.__suppress_context__
        if self(str(masked)) != str(masked):  # a __str__ built from something not masked
            return RuntimeError(f"{type(exc).__name__}: {self(str(masked))}")
        return masked.with_traceback(exc.__traceback__)

    def _value(self, value: Any, depth: int) -> Any:
        """`value` masked; the very same object when nothing in it needed masking."""
        if depth > 8:
            return value
        if isinstance(value, str):
            masked = self(value)
            return value if masked == value else masked
        if isinstance(value, bytes):
            text = value.decode(errors="replace")
            masked = self(text)
            return value if masked == text else masked.encode()
        if isinstance(value, BaseException):
            return self._exception(value, depth + 1)
        if isinstance(value, list | tuple):
            items = [self._value(v, depth + 1) for v in value]
            if all(a is b for a, b in zip(items, value, strict=True)):
                return value
            return items if isinstance(value, list) else tuple(items)
        if isinstance(value, dict):
            masked_items = {k: self._value(v, depth + 1) for k, v in value.items()}
            return value if all(masked_items[k] is v for k, v in value.items()) else masked_items
        if hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
            fields = {n: getattr(value, n) for n in value.__dataclass_fields__}
            masked_fields = {n: self._value(v, depth + 1) for n, v in fields.items()}
            if all(masked_fields[n] is v for n, v in fields.items()):
                return value
            return _replace_fields(value, masked_fields)
        return value


def _replace_fields(obj: Any, fields: dict[str, Any]) -> Any:
    clone = copy.copy(obj)
    for name, val in fields.items():
        object.__setattr__(clone, name, val)
    return clone
