"""Load deploy.yaml: capped YAML with line numbers, interpolation, validation, local reads.

Every problem (YAML, variables, shapes, local files, secrets) ends in one ConfigError."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from dockyard import yamlsafe
from dockyard.config.deploy import DeployConfig
from dockyard.config.interpolate import Interpolator, SecretLookup, secret_names
from dockyard.config.local import LocalReader
from dockyard.config.problems import ConfigError, Loc, Problem, validation_problems, with_lines
from dockyard.config.sets import bundle_names, set_problems
from dockyard.config.target import TargetConfig, TargetList

_M = TypeVar("_M", bound=BaseModel)


def _key_lines(loader: yaml.Loader, node: yaml.Node, loc: Loc, out: dict[Loc, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, str | int):
                out[(*loc, key)] = key_node.start_mark.line + 1
                _key_lines(loader, value, (*loc, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*loc, i)] = item.start_mark.line + 1
            _key_lines(loader, item, (*loc, i), out)


def _read_yaml(path: Path) -> tuple[dict[Any, Any], dict[Loc, int]]:
    """The file's top mapping and the line of every key; any problem is one ConfigError."""
    lines: dict[Loc, int] = {}
    try:
        loader, node = yamlsafe.compose(yamlsafe.read_text(path, "config file"))
        try:
            data = yamlsafe.construct(loader, node)
            if node is not None:
                _key_lines(loader, node, (), lines)
        finally:
            loader.dispose()
    except yamlsafe.YamlProblem as exc:
        raise ConfigError(path, [Problem((), str(exc), exc.fix, exc.line)]) from None
    except RecursionError:
        problem = Problem((), "the YAML nests too deeply", "flatten the structure")
        raise ConfigError(path, [problem]) from None
    if data is None:
        problem = Problem((), "the config file is empty", "add targets: and stacks: sections")
        raise ConfigError(path, [problem])
    if not isinstance(data, dict):
        problem = Problem(
            (), "the config file is not a mapping", "start with targets: and stacks:", 1
        )
        raise ConfigError(path, [problem])
    return data, lines


def _stacks(data: dict[Any, Any]) -> list[tuple[int, dict[Any, Any]]]:
    stacks = data.get("stacks")
    return [
        (i, s)
        for i, s in enumerate(stacks if isinstance(stacks, list) else [])
        if isinstance(s, dict)
    ]


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


def _validate(
    model: type[_M],
    source: Path,
    data: dict[Any, Any],
    lines: dict[Loc, int],
    interpolator: Interpolator,
    problems: list[Problem],
) -> _M:
    reader = LocalReader(source.absolute().parent, interpolator.environ)
    problems = interpolator.problems + problems
    try:
        config = model.model_validate(data)
    except ValidationError as exc:
        problems += validation_problems(exc, data, model, interpolator.failed)
        reader.sections(data, model)
        problems += [p for p in reader.problems if p.loc not in interpolator.failed]
        raise ConfigError(source, with_lines(problems, lines)) from None
    if isinstance(config, DeployConfig):
        config = reader.config(config)
    elif isinstance(config, TargetList):
        config = config.model_copy(update={"targets": reader.targets(config.targets)})
    problems += reader.problems
    if problems:
        raise ConfigError(source, with_lines(problems, lines))
    return config


def _interpolator(
    raw: dict[Any, Any],
    variables: Mapping[str, str] | None,
    environ: Mapping[str, str] | None,
    secret_lookup: SecretLookup | None,
) -> Interpolator:
    return Interpolator(
        variables or {},
        os.environ if environ is None else environ,
        secret_names(raw),
        secret_lookup,
    )


def load_config(
    path: Path | str,
    variables: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    secret_lookup: SecretLookup | None = None,
) -> DeployConfig:
    """Read and validate a whole deploy.yaml; `variables` (--set) win over `environ`;
    `${secret:NAME}` comes from `environ`, then from `secret_lookup`."""
    source = Path(path)
    raw, lines = _read_yaml(source)
    sections = {
        k: v
        for k, v in raw.items()
        if v is not None and not (isinstance(k, str) and k.startswith("x-"))
    }
    interpolator = _interpolator(sections, variables, environ, secret_lookup)
    data = interpolator.render(sections, ())
    images = data.setdefault("images", {})
    if isinstance(images, dict) and "per_deploy" not in images:
        images["per_deploy"] = list(dict.fromkeys(interpolator.image_names))
    problems = _required_problems(data, interpolator.variables, interpolator.environ)
    used = interpolator.referenced | bundle_names(source.absolute().parent, raw.get("stacks"))
    used |= {str(name) for _, stack in _stacks(data) for name in stack.get("required") or []}
    problems += set_problems(interpolator.variables, used)
    return _validate(DeployConfig, source, data, lines, interpolator, problems)


def load_targets(
    path: Path | str,
    variables: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[TargetConfig]:
    """Read and validate only the `targets` section (other sections may be incomplete)."""
    source = Path(path)
    raw, lines = _read_yaml(source)
    interpolator = _interpolator(raw, variables, environ, None)
    data = interpolator.render({k: v for k, v in raw.items() if k == "targets"}, ())
    return list(_validate(TargetList, source, data, lines, interpolator, []).targets)
