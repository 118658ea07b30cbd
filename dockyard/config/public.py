"""Secrets whose value also occurs in non-secret config, for `dockyard validate` to warn about.

Output is masked where it leaves dockyard: a project name, path or image ref that equals a
secret, or an image ref in a compose file that contains one, shows with *** where the secret
stands alone in a line, and the secret is no more secret than that config. No warning shows a
value: only where the secret is set and where its value occurs."""

from __future__ import annotations

from dockyard.config.deploy import DeployConfig
from dockyard.yamlsafe import YamlProblem, read_text


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
