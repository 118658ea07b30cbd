"""Replace secret values with *** in any text, value or exception that leaves dockyard.

The one place masking happens: the task boundary (tasks/policy.py) passes every exception,
result and log line of a step through `Masker`, so no call site has to remember to."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

MASK = "***"


class Masker:
    """Masks a fixed set of secret values (longest first, so overlaps mask fully)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

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
