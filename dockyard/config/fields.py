"""Field types of the deploy.yaml model: durations, numbers, names, env values, URLs (pure)."""

from __future__ import annotations

import math
import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, SecretStr

from dockyard.compose.envfile import carries
from dockyard.names import ENV_NAME

_DURATION = re.compile(
    r"(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m(?!s))?"
    r"(?:(?P<s>\d+(?:\.\d+)?)s)?(?:(?P<ms>\d+)ms)?"
)
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_DURATION_FIX = "use seconds (90) or a string like 90s, 5m, 1h, 1m30s"
_SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class FieldProblem(ValueError):
    """A validation failure that carries its fix; `at` narrows the location below the model."""

    def __init__(self, message: str, fix: str, at: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.at = at


class Model(BaseModel):
    """Base of every config section: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_duration(value: object) -> float:
    """Seconds from a number or a string like "90", "90s", "5m", "1h", "1m30s", "500ms"."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif text and (match := _DURATION.fullmatch(text)):
            seconds = sum(float(n) * _UNIT_SECONDS[u] for u, n in match.groupdict().items() if n)
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        raise FieldProblem(f"bad duration {value!r}", _DURATION_FIX)
    return seconds


def _positive(seconds: float) -> float:
    if seconds <= 0:
        raise FieldProblem("duration must be more than 0", _DURATION_FIX)
    return seconds


def _no_bool(value: object) -> object:
    if isinstance(value, bool):
        raise FieldProblem(
            f"{str(value).lower()} is a boolean, not a number", "write a number, e.g. 22"
        )
    return value


Duration = Annotated[float, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_positive)]
Int = Annotated[int, BeforeValidator(_no_bool)]
Number = Annotated[float, BeforeValidator(_no_bool)]


def named(pattern: re.Pattern[str], what: str, fix: str) -> AfterValidator:
    """A validator that accepts only strings matching `pattern` in full."""

    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise FieldProblem(f"bad {what} {value!r}", fix)
        return value

    return AfterValidator(check)


EnvName = Annotated[
    str, named(ENV_NAME, "variable name", "use letters, digits and _, not starting with a digit")
]
ServiceName = Annotated[
    str, named(_SERVICE, "service name", "use the service name from the compose file")
]


def _env_scalar(value: object) -> str | SecretStr:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str | SecretStr):
        return value
    raise FieldProblem("env value must be a single value", 'write a string, e.g. KEY: "value"')


def _env_literal(value: str | SecretStr) -> str | SecretStr:
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not carries(text):
        raise FieldProblem(
            "env value contains a single quote or a line break, which the stack's .env file "
            "cannot carry literally",
            "remove it from the value (the value itself is not shown here)",
        )
    return value


EnvValue = Annotated[str | SecretStr, BeforeValidator(_env_scalar), AfterValidator(_env_literal)]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FieldProblem(f"bad URL {value!r}", "use a full URL like http://127.0.0.1:8080/health")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
