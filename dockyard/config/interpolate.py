"""${VAR}, ${VAR:-default}, ${secret:NAME} and $$ in deploy.yaml strings, with the secret rules.

A secret reaches a host only inside a stack's 0600 .env file: `${secret:NAME}` is refused
outside stacks[].env, and so is a plain `${VAR}` naming a variable the config uses as a
secret elsewhere (it would land on a command line or in a setting). `${secret:NAME}` is
read from the environment, then from the optional `lookup` (e.g. Prefect Secret blocks)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import SecretStr

from dockyard.config.problems import Loc, Problem, format_loc
from dockyard.errors import DockyardError
from dockyard.masking import MIN_SECRET_CHARS
from dockyard.names import ENV_NAME

_REF = re.compile(r"\$(?:(?P<escape>\$)|\{(?P<expr>[^}]*)\}|(?P<open>\{))")
_VAR = re.compile(rf"(?P<name>{ENV_NAME.pattern})(?::-(?P<default>.*))?", re.S)
_SECRET_FIX = (
    "put it in the stack's env (stacks[].env.NAME: ${secret:NAME}) and let the container read "
    "it from its environment; for SSH keys use key_env, for registries password_env"
)


def short_secret(name: str, value: str) -> tuple[str, str] | None:
    """(message, fix) when secret `name`'s value is too short to be masked in output (a
    value that short also occurs in ordinary text); None for a usable or empty value."""
    if not 0 < len(value) < MIN_SECRET_CHARS:
        return None
    return (
        f"secret {name} has {len(value)} character{'s' if len(value) > 1 else ''}: too short "
        "to mask in logs and reports",
        f"use a value of at least {MIN_SECRET_CHARS} characters for {name} (a generated "
        "password), or leave it out of the config if it is not secret",
    )


class SecretLookup(Protocol):
    """A second secret source, asked for what the environment does not hold."""

    def __call__(self, name: str) -> str | None:
        """The value of secret `name`, or None when this source has none."""

    def where(self, name: str) -> str:
        """Where this source looks for secret `name`, for messages (no value)."""


class SecretSourceError(DockyardError):
    """A secret source (e.g. the Prefect API) could not answer; `fix` says what to do."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


def secret_names(data: Any) -> dict[str, str]:
    """Every variable name the raw config uses as a secret -> where (for error messages)."""
    found: dict[str, str] = {}

    def walk(value: Any, loc: Loc) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, (*loc, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, (*loc, i))
        elif isinstance(value, str):
            for match in _REF.finditer(value):
                name = (match["expr"] or "").removeprefix("secret:")
                if match["expr"] != name and ENV_NAME.fullmatch(name):
                    found.setdefault(name, f"${{secret:{name}}} in {format_loc(loc)}")

    walk(data, ())
    sections = [("targets", t, ("key_env", "key_passphrase_env")) for t in _list(data, "targets")]
    images = data.get("images") if isinstance(data, dict) else None
    sections += [("images.registries", r, ("password_env",)) for r in _list(images, "registries")]
    for where, (i, section), keys in sections:
        for key in keys:
            name = section.get(key) if isinstance(section, dict) else None
            if isinstance(name, str) and ENV_NAME.fullmatch(name):
                found.setdefault(name, f"{where}[{i}].{key}")
    return found


def _list(data: Any, key: str) -> list[tuple[int, Any]]:
    value = data.get(key) if isinstance(data, dict) else None
    return list(enumerate(value)) if isinstance(value, list) else []


class Interpolator:
    """Renders every string of the data; problems collect in `problems`."""

    def __init__(
        self,
        variables: Mapping[str, str],
        environ: Mapping[str, str],
        secrets: Mapping[str, str],
        lookup: SecretLookup | None = None,
    ) -> None:
        self.variables = variables
        self.environ = environ
        self.secrets = secrets
        self.lookup = lookup
        self.problems: list[Problem] = []
        self.failed: set[Loc] = set()
        self.image_names: list[str] = []
        self.referenced: set[str] = set()
        self.missing: list[tuple[Loc, str]] = []
        self.secret_values: dict[str, str] = {}  # value -> the secret's name

    def render(self, value: Any, loc: Loc) -> Any:
        """Interpolate `value` (found at `loc`)."""
        rendered = self._walk(value, loc)
        unused = [name for name in self.variables if name not in self.referenced]
        for where, name in self.missing:
            near = difflib.get_close_matches(name, unused, n=1)
            hint = f" (you passed --set {near[0]}; a typo?)" if near else ""
            self._fail(
                where,
                f"variable {name} is not set",
                f"pass --set {name}=... or export {name}{hint}",
            )
        return rendered

    def _walk(self, value: Any, loc: Loc) -> Any:
        if isinstance(value, dict):
            return {k: self._walk(v, (*loc, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v, (*loc, i)) for i, v in enumerate(value)]
        if isinstance(value, str):
            return self._string(value, loc)
        return value

    def _fail(self, loc: Loc, message: str, fix: str) -> str:
        self.problems.append(Problem(loc, message, fix))
        self.failed.add(loc)
        return ""

    def _string(self, text: str, loc: Loc) -> str | SecretStr:
        in_env = len(loc) == 4 and loc[0] == "stacks" and loc[2] == "env"
        parts: list[str] = []
        used_secret = used_variable = False
        end = 0
        for match in _REF.finditer(text):
            parts.append(text[end : match.start()])
            end = match.end()
            expr = match["expr"]
            if match["escape"]:
                parts.append("$")
            elif expr is None:
                parts.append(self._fail(loc, "unclosed ${", "close it with }, or write $$ for $"))
            elif expr.startswith("secret:"):
                used_secret = True
                parts.append(self._secret(expr.removeprefix("secret:"), loc, in_env))
            elif var := _VAR.fullmatch(expr):
                used_variable = True
                used_secret |= var["name"] in self.secrets
                parts.append(self._variable(var["name"], var["default"], loc, in_env))
            else:
                parts.append(
                    self._fail(
                        loc,
                        f"unsupported expression ${{{expr}}}",
                        "use ${VAR}, ${VAR:-default} or ${secret:NAME}; write $$ for a literal $",
                    )
                )
        parts.append(text[end:])
        if in_env and used_variable and str(loc[3]).endswith("_IMAGE"):
            self.image_names.append(str(loc[3]))
        rendered = "".join(parts)
        return SecretStr(rendered) if used_secret else rendered

    def _variable(self, name: str, default: str | None, loc: Loc, in_env: bool) -> str:
        self.referenced.add(name)
        if name in self.secrets and not in_env:
            return self._fail(
                loc,
                f"${{{name}}} is a secret ({self.secrets[name]}), which may not reach a "
                "command line or a setting",
                _SECRET_FIX,
            )
        if default and "${" in default:
            return self._fail(
                loc, f"nested ${{...}} in the default of {name}", "use a plain default"
            )
        value = self.variables.get(name, self.environ.get(name))
        if default is not None and not value:
            value = default
        if value is None:
            self.missing.append((loc, name))
            return ""
        if name in self.secrets:
            return self._secret_value(name, value, loc)
        return value

    def _secret_value(self, name: str, value: str, loc: Loc) -> str:
        """`value` of secret `name`, kept for the masker; refused when too short to mask."""
        if short := short_secret(name, value):
            return self._fail(loc, *short)
        self.secret_values.setdefault(value, name)
        return value

    def _secret(self, name: str, loc: Loc, in_env: bool) -> str:
        if not in_env:
            return self._fail(
                loc,
                "${secret:...} is only allowed in stacks[].env values (a secret may not reach "
                "a command line or a setting)",
                _SECRET_FIX,
            )
        if not ENV_NAME.fullmatch(name):
            return self._fail(loc, f"bad secret name {name!r}", "use ${secret:ENV_VAR_NAME}")
        if name in self.environ:
            return self._secret_value(name, self.environ[name], loc)
        try:
            value = self.lookup(name) if self.lookup else None
        except SecretSourceError as exc:
            return self._fail(loc, f"secret {name}: {exc.message}", exc.fix)
        if value is not None:
            return self._secret_value(name, value, loc)
        via_set = " (secrets are never read from --set)" if name in self.variables else ""
        elsewhere = f" nor in {self.lookup.where(name)}" if self.lookup else ""
        store = f", or store it in {self.lookup.where(name)}" if self.lookup else ""
        return self._fail(
            loc,
            f"secret {name} is not set in the environment{elsewhere}{via_set}",
            f"export {name} (in CI: map the secret to this env var){store}",
        )
