"""Load deploy.yaml: YAML with line numbers, ${VAR}/${secret:NAME} interpolation, errors, hash."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import types
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, SecretStr, ValidationError

from dockyard.config import DeployConfig, FieldProblem, StackConfig, TargetConfig, TargetList

Loc = tuple[str | int, ...]
_M = TypeVar("_M", bound=BaseModel)

_REF = re.compile(r"\$(?:(?P<escape>\$)|\{(?P<expr>[^}]*)\}|(?P<open>\{))")
_VAR = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.S)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_SALT = b"dockyard.config_hash.v1:"
_FIXES = {
    "int_parsing": "use a whole number",
    "int_type": "use a whole number",
    "int_from_float": "use a whole number",
    "float_parsing": "use a number",
    "float_type": "use a number",
    "bool_parsing": "use true or false",
    "bool_type": "use true or false",
    "string_type": "use a string (quote it in YAML)",
    "list_type": "use a YAML list, e.g. [a, b]",
    "dict_type": "use a mapping of key: value",
    "model_type": "use a mapping of key: value",
    "model_attributes_type": "use a mapping of key: value",
    "literal_error": "use one of the values listed",
    "too_short": "add at least one item",
    "string_too_short": "give a non-empty value",
    "greater_than": "raise the value",
    "greater_than_equal": "raise the value",
    "less_than": "lower the value",
    "less_than_equal": "lower the value",
}


def format_loc(loc: Loc) -> str:
    """`('stacks', 0, 'env', 'X')` -> `stacks[0].env.X`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the config: where (`loc`, `line`), what, and how to fix it."""

    loc: Loc
    message: str
    fix: str
    line: int | None = None

    @property
    def field(self) -> str:
        """The field path, e.g. `stacks[0].env.APP_IMAGE` (empty for the whole file)."""
        return format_loc(self.loc)


class ConfigError(Exception):
    """The config cannot be used; `problems` lists everything found wrong."""

    def __init__(self, path: Path | str, problems: Sequence[Problem]) -> None:
        self.path = Path(path)
        self.problems = list(problems)
        count = f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}"
        lines = [f"{self.path}: {count}"]
        for p in self.problems:
            where = f"{self.path}:{p.line}" if p.line else str(self.path)
            field = f" {p.field}:" if p.field else ""
            lines.append(f"  {where}:{field} {p.message}\n      fix: {p.fix}")
        super().__init__("\n".join(lines))


class _DuplicateKey(yaml.MarkedYAMLError):
    """A mapping names the same key twice (YAML would silently keep the last)."""


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable):
                if key in seen:
                    raise _DuplicateKey(None, None, str(key), key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


def _key_lines(
    loader: _Loader, node: yaml.Node, loc: Loc, out: dict[Loc, int], active: set[int]
) -> None:
    if id(node) in active:
        raise yaml.MarkedYAMLError(None, None, "recursive alias", node.start_mark)
    active.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, str | int):
                out[(*loc, key)] = key_node.start_mark.line + 1
                _key_lines(loader, value, (*loc, key), out, active)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*loc, i)] = item.start_mark.line + 1
            _key_lines(loader, item, (*loc, i), out, active)
    active.discard(id(node))


def _read_yaml(path: Path) -> tuple[dict[Any, Any], dict[Loc, int]]:
    def error(message: str, fix: str, line: int | None = None) -> ConfigError:
        return ConfigError(path, [Problem((), message, fix, line)])

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(
            f"cannot read the config file: {exc.strerror or exc}", "check the path"
        ) from None
    except UnicodeDecodeError:
        raise error("the config file is not UTF-8 text", "save it as UTF-8") from None
    loader = _Loader(text)
    lines: dict[Loc, int] = {}
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
        if node is not None:
            _key_lines(loader, node, (), lines, set())
    except _DuplicateKey as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise error(
            f"duplicate key {exc.problem!r}", "keep one of them (YAML keeps only the last)", line
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        context = f" ({exc.context})" if exc.context else ""
        raise error(
            f"YAML syntax error: {exc.problem}{context}",
            "fix the YAML at that line: indentation, a missing ':' or an unclosed quote",
            mark.line + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise error(f"YAML error: {exc}", "fix the YAML") from None
    finally:
        loader.dispose()
    if data is None:
        raise error("the config file is empty", "add targets: and stacks: sections")
    if not isinstance(data, dict):
        raise error("the config file is not a mapping", "start with targets: and stacks:", 1)
    return data, lines


class _Interpolator:
    """Renders ${VAR}, ${VAR:-default}, ${secret:NAME} and $$ in every string of the data."""

    def __init__(self, variables: Mapping[str, str], environ: Mapping[str, str]) -> None:
        self.variables = variables
        self.environ = environ
        self.problems: list[Problem] = []
        self.failed: set[Loc] = set()
        self.image_names: list[str] = []
        self.referenced: set[str] = set()
        self.missing: list[tuple[Loc, str]] = []

    def render(self, value: Any, loc: Loc) -> Any:
        """Interpolate `value` (found at `loc`); problems collect in `self.problems`."""
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
                parts.append(self._variable(var["name"], var["default"], loc))
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

    def _variable(self, name: str, default: str | None, loc: Loc) -> str:
        self.referenced.add(name)
        if default and "${" in default:
            return self._fail(
                loc, f"nested ${{...}} in the default of {name}", "use a plain default"
            )
        value = self.variables.get(name, self.environ.get(name))
        if default is not None and not value:
            return default
        if value is None:
            self.missing.append((loc, name))
            return ""
        return value

    def _secret(self, name: str, loc: Loc, in_env: bool) -> str:
        if not in_env:
            return self._fail(
                loc,
                "${secret:...} is only allowed in stacks[].env values",
                "put it in the stack's env; for SSH keys use key_env, for registries password_env",
            )
        if not _NAME.fullmatch(name):
            return self._fail(loc, f"bad secret name {name!r}", "use ${secret:ENV_VAR_NAME}")
        if name not in self.environ:
            via_set = " (secrets are never read from --set)" if name in self.variables else ""
            return self._fail(
                loc,
                f"secret {name} is not set in the environment{via_set}",
                f"export {name} (in CI: map the secret to this env var)",
            )
        return self.environ[name]


def _required_problems(
    data: dict[Any, Any], variables: Mapping[str, str], environ: Mapping[str, str]
) -> list[Problem]:
    problems = []
    stacks = data.get("stacks")
    for i, stack in enumerate(stacks if isinstance(stacks, list) else []):
        required = stack.get("required") if isinstance(stack, dict) else None
        for j, name in enumerate(required if isinstance(required, list) else []):
            if isinstance(name, str) and name not in variables and name not in environ:
                problems.append(
                    Problem(
                        ("stacks", i, "required", j),
                        f"required variable {name} is not set",
                        f"pass --set {name}=... or export {name}",
                    )
                )
    return problems


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    tp: Any = root
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return None
            tp = field.annotation
        elif get_origin(tp) in (list, dict):
            tp = get_args(tp)[-1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _unknown_key(root: type[BaseModel], loc: Loc) -> tuple[str, str]:
    model = _model_at(root, loc[:-1])
    allowed = list(model.model_fields) if model else []
    near = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
    fix = f"did you mean {near[0]!r}? " if near else "remove it; "
    fix += "allowed keys: " + ", ".join(allowed)
    if len(loc) == 1:
        fix += " (top-level keys starting with x- are ignored, e.g. for YAML anchors)"
    return f"unknown key {loc[-1]!r}", fix


def _clean_loc(loc: Sequence[str | int], data: Any) -> Loc:
    """Drop pydantic's union/validator tags: keep only parts that exist in the data."""
    kept: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        in_dict = isinstance(current, dict) and part in current
        if in_dict or (isinstance(current, list) and isinstance(part, int) and part < len(current)):
            current = current[part]
            kept.append(part)
        elif isinstance(current, dict) and i == len(loc) - 1:
            kept.append(part)
    return tuple(kept)


def _validation_problems(
    exc: ValidationError, data: Any, root: type[BaseModel], skip: set[Loc]
) -> list[Problem]:
    problems: dict[Loc, Problem] = {}
    for err in exc.errors(include_url=False, include_input=False):
        loc = _clean_loc(err["loc"], data)
        error = (err.get("ctx") or {}).get("error")
        if isinstance(error, FieldProblem):
            loc, message, fix = (*loc, *error.at), error.message, error.fix
        elif err["type"] == "extra_forbidden":
            message, fix = _unknown_key(root, loc)
        elif err["type"] == "missing":
            message, fix = f"{loc[-1]} is required", f"add {loc[-1]}:"
        else:
            message, fix = err["msg"], _FIXES.get(err["type"], "fix the value")
        if not any(loc[: len(s)] == s for s in skip):
            problems.setdefault(loc, Problem(loc, message, fix))
    return list(problems.values())


def _with_lines(problems: list[Problem], lines: dict[Loc, int]) -> list[Problem]:
    """Attach the line of the nearest located key to each problem, in file order."""
    located = []
    for p in problems:
        prefixes = (p.loc[:n] for n in range(len(p.loc), 0, -1))
        line = next((lines[loc] for loc in prefixes if loc in lines), p.line)
        located.append(Problem(p.loc, p.message, p.fix, line))
    return sorted(located, key=lambda p: p.line or 0)


def _validate(
    model: type[_M],
    source: Path,
    data: dict[Any, Any],
    lines: dict[Loc, int],
    interpolator: _Interpolator,
    problems: list[Problem],
) -> _M:
    context = {"base_dir": source.absolute().parent, "environ": interpolator.environ}
    problems = interpolator.problems + problems
    try:
        config = model.model_validate(data, context=context)
    except ValidationError as exc:
        problems += _validation_problems(exc, data, model, interpolator.failed)
        raise ConfigError(source, _with_lines(problems, lines)) from None
    if problems:
        raise ConfigError(source, _with_lines(problems, lines))
    return config


def load_config(
    path: Path | str,
    variables: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> DeployConfig:
    """Read and validate a whole deploy.yaml; `variables` (--set) win over `environ`."""
    source = Path(path)
    variables = variables or {}
    environ = os.environ if environ is None else environ
    raw, lines = _read_yaml(source)
    interpolator = _Interpolator(variables, environ)
    sections = {
        k: v
        for k, v in raw.items()
        if v is not None and not (isinstance(k, str) and k.startswith("x-"))
    }
    data = interpolator.render(sections, ())
    images = data.setdefault("images", {})
    if isinstance(images, dict) and "per_deploy" not in images:
        images["per_deploy"] = list(dict.fromkeys(interpolator.image_names))
    problems = _required_problems(data, variables, environ)
    return _validate(DeployConfig, source, data, lines, interpolator, problems)


def load_targets(
    path: Path | str,
    variables: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[TargetConfig]:
    """Read and validate only the `targets` section (other sections may be incomplete)."""
    source = Path(path)
    environ = os.environ if environ is None else environ
    raw, lines = _read_yaml(source)
    interpolator = _Interpolator(variables or {}, environ)
    data = interpolator.render({k: v for k, v in raw.items() if k == "targets"}, ())
    return list(_validate(TargetList, source, data, lines, interpolator, []).targets)


def bundle_digest(bundle: Path) -> str:
    """sha256 over a directory tree: relative names, file contents, exec bits, symlink targets."""
    digest = hashlib.sha256()

    def walk(directory: Path, prefix: str) -> None:
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            name = os.fsencode(prefix + entry.name)
            if entry.is_symlink():
                digest.update(b"L" + name + b"\0" + os.fsencode(os.readlink(entry.path)) + b"\0")
            elif entry.is_dir():
                walk(Path(entry.path), f"{prefix}{entry.name}/")
            elif entry.is_file():
                with open(entry.path, "rb") as f:
                    content = hashlib.file_digest(f, "sha256").digest()
                mode = b"x" if entry.stat().st_mode & 0o111 else b"-"
                digest.update(b"F" + mode + name + b"\0" + content)

    walk(bundle, "")
    return digest.hexdigest()


def _secret_digest(name: str, secret: SecretStr) -> dict[str, str]:
    salt = _SECRET_SALT + name.encode()
    value = secret.get_secret_value().encode()
    return {"scrypt": hashlib.scrypt(value, salt=salt, n=2**14, r=8, p=1).hex()}


def _stack_doc(stack: StackConfig, index: int) -> dict[str, Any]:
    doc = stack.model_dump(mode="json", exclude={"bundle", "env"})
    doc["env"] = {
        k: _secret_digest(k, v) if isinstance(v, SecretStr) else v for k, v in stack.env.items()
    }
    try:
        doc["bundle"] = bundle_digest(stack.bundle)
    except OSError as exc:
        problem = Problem(
            ("stacks", index, "bundle"),
            f"cannot read {exc.filename}: {exc.strerror or exc}",
            "make every file in the bundle readable",
        )
        raise ConfigError(stack.bundle, [problem]) from None
    return doc


def config_hash(config: DeployConfig) -> str:
    """A stable sha256 of what a deploy puts on a host, for cache keys and release records.

    Covers the stacks (bundle contents instead of the local bundle path; secret env values as
    salted scrypt digests, so a rotated secret changes the hash without exposing it), images,
    disk, and each target's name, host, port and user. Leaves out how dockyard connects and
    runs (key sources, host keys, keepalive, step policies) and registry passwords.
    """
    doc = {
        "targets": [
            t.model_dump(mode="json", include={"name", "host", "port", "user"})
            for t in config.targets
        ],
        "stacks": [_stack_doc(s, i) for i, s in enumerate(config.stacks)],
        "images": config.images.model_dump(mode="json"),
        "disk": config.disk.model_dump(mode="json"),
    }
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()
