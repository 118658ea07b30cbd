"""The config's non-secret values that output shows, and the secrets whose value occurs in them.

The masker shows a public value whole where it contains a secret (an image ref, a path), so a
secret that happens to be part of one does not corrupt it; a public value equal to a secret,
and the secret where it stands alone, show as ***. `dockyard validate` warns about every such
secret, without showing a value: only where the secret is set and where its value occurs."""

from __future__ import annotations

import re

from dockyard.config.deploy import DeployConfig
from dockyard.yamlsafe import YamlProblem, read_text

_IMAGE_LINE = re.compile(r"^\s*image:\s*[\"']?([^\"'#\s]+)", re.M)
_EXPRESSION = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*")


def _secrets(config: DeployConfig) -> dict[str, str]:
    """Each secret value -> the name it is set by."""
    found = config.named_secrets()
    for registry in config.images.registries:
        if registry.password and registry.password.get_secret_value():
            found.setdefault(registry.password.get_secret_value(), registry.password_env)
    return found


def _compose_texts(config: DeployConfig) -> dict[str, str]:
    """Each stack's compose files: `stacks[i].compose_files[j]` -> the file's text."""
    texts = {}
    for i, stack in enumerate(config.stacks):
        for j, name in enumerate(stack.compose_files):
            try:
                texts[f"stacks[{i}].compose_files[{j}] ({name})"] = read_text(
                    stack.bundle / name, "compose file"
                )
            except (OSError, YamlProblem):
                continue  # the bundle check reports it
    return texts


def _compose_images(compose: dict[str, str]) -> dict[str, str]:
    """The literal parts of every `image:` in the compose files (between `${...}`) -> where."""
    found: dict[str, str] = {}
    for at, text in compose.items():
        for match in _IMAGE_LINE.finditer(text):
            for part in _EXPRESSION.split(match[1]):
                if part:
                    found.setdefault(part, at)
    return found


def public_values(config: DeployConfig) -> dict[str, str]:
    """Every non-secret value output may show -> where it is set: the config's own (names,
    hosts, paths, non-secret env values) and the image refs written in its compose files."""
    return {**_compose_images(_compose_texts(config)), **config.public_values()}


def secret_overlaps(config: DeployConfig) -> list[str]:
    """One warning per secret whose value occurs in a non-secret value of the config (target
    names, hosts, project names, paths, non-secret env values such as image refs) or in a
    stack's compose file."""
    public = config.public_values()
    compose = _compose_texts(config)
    warnings = []
    for value, name in sorted(_secrets(config).items(), key=lambda item: item[1]):
        where = [at for text, at in public.items() if value in text]
        where += [at for at, text in compose.items() if value in text]
        if where:
            warnings.append(
                f"the value of secret {name} also occurs in {', '.join(sorted(set(where)))}: "
                "output where it stands alone shows *** in its place (a name or path equal to "
                f"it too), and it is no more secret than that config; fix: give {name} a "
                "value of its own (a generated password)"
            )
    return warnings
