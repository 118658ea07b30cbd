"""What loading a config reads from this machine: key files, known_hosts, bundles, secrets.

The models are pure; this resolves their local paths (relative to the config file's
directory, `~` expanded), checks the files exist, and reads key data, passphrases and
registry passwords from the environment. Every problem names the field and the fix."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from dockyard.compose.dotenv import DotenvError
from dockyard.config.deploy import DeployConfig
from dockyard.config.images import RegistryConfig
from dockyard.config.problems import Loc, Problem
from dockyard.config.stack import StackConfig, project_environment
from dockyard.config.target import TargetConfig, TargetList
from dockyard.ssh.keys import KeyProblem, load_known_hosts, parse_private_key

_PATH_FIX = "fix the path (relative paths start at the config file's directory)"


@dataclass
class LocalReader:
    """Resolves and reads the local side of a config; problems collect in `problems`."""

    base_dir: Path
    environ: Mapping[str, str]
    problems: list[Problem] = field(default_factory=list)

    def _fail(self, loc: Loc, message: str, fix: str) -> None:
        self.problems.append(Problem(loc, message, fix))

    def _path(self, value: Path) -> Path:
        path = Path(os.path.expanduser(value))
        return Path(os.path.normpath(path if path.is_absolute() else self.base_dir / path))

    def _readable(self, path: Path, loc: Loc, what: str) -> bytes | None:
        try:
            with path.open("rb") as f:
                return f.read(64)
        except OSError as exc:
            self._fail(
                loc,
                f"cannot read {what} {path}: {exc.strerror or exc}",
                f"{_PATH_FIX} or create {what}",
            )
            return None

    def _secret(self, name: str, loc: Loc) -> SecretStr | None:
        if name not in self.environ:
            self._fail(
                loc,
                f"environment variable {name} is not set",
                f"export {name} (in CI: map the secret to this env var)",
            )
            return None
        return SecretStr(self.environ[name])

    def target(self, target: TargetConfig, loc: Loc) -> TargetConfig:
        """The target with resolved paths and its key secrets; its file problems recorded."""
        key_file = known_hosts = passphrase = None
        if target.key_passphrase_env:
            passphrase = self._secret(target.key_passphrase_env, (*loc, "key_passphrase_env"))
        if target.key_file:
            key_file = self._path(target.key_file)
            head = self._readable(key_file, (*loc, "key_file"), "key_file")
            if head is not None and head[:4] == b"ssh-":
                self._fail(
                    (*loc, "key_file"),
                    f"{key_file} is a public key",
                    "point key_file at the private key (without .pub)",
                )
            elif head is not None and (passphrase or not target.key_passphrase_env):
                self._key_file(key_file, passphrase, (*loc, "key_file"))
        if target.known_hosts:
            known_hosts = self._path(target.known_hosts)
            if self._readable(known_hosts, (*loc, "known_hosts"), "known_hosts") is not None:
                self._known_host(target, known_hosts, (*loc, "known_hosts"))
        if target.agent and not self.environ.get("SSH_AUTH_SOCK"):
            self._fail(
                (*loc, "agent"),
                "agent: true but SSH_AUTH_SOCK is not set",
                "start ssh-agent and ssh-add the deploy key, or use key_file/key_env",
            )
        private_key = None
        if target.key_env:
            private_key = self._secret(target.key_env, (*loc, "key_env"))
            if private_key and "PRIVATE KEY-----" not in private_key.get_secret_value():
                self._fail(
                    (*loc, "key_env"),
                    f"${target.key_env} does not hold a private key (no '-----BEGIN ... "
                    "PRIVATE KEY-----' line)",
                    f"put the whole private key file into {target.key_env}, newlines included",
                )
        paths = {"key_file": key_file, "known_hosts": known_hosts}
        return target.model_copy(update=paths).with_secrets(private_key, passphrase)

    def _key_file(self, path: Path, passphrase: SecretStr | None, loc: Loc) -> None:
        """Check key_file as ssh does: only its owner may read it, and it is a private key."""
        mode = path.stat().st_mode & 0o777
        if mode & 0o077 or not mode & 0o400:
            why = "others can read it, so ssh refuses it" if mode & 0o077 else "nobody can read it"
            self._fail(loc, f"{path} has mode {mode:04o}: {why}", f"chmod 600 {path}")
            return
        secret = passphrase.get_secret_value() if passphrase else None
        try:
            parse_private_key(path.read_bytes(), secret, f"key_file {path}")
        except KeyProblem as exc:
            self._fail(loc, str(exc), exc.fix)

    def _known_host(self, target: TargetConfig, path: Path, loc: Loc) -> None:
        try:
            keys = load_known_hosts(path)
        except KeyProblem as exc:
            self._fail(loc, str(exc), exc.fix)
            return
        if keys.lookup(target.known_hosts_name) is None:
            self._fail(
                loc,
                f"{path} has no key for {target.known_hosts_name}",
                f"add it: ssh-keyscan -p {target.port} {target.host} >> {path} (then verify it)",
            )

    def stack(self, stack: StackConfig, loc: Loc) -> StackConfig:
        """The stack with its bundle resolved; a missing bundle or bundle file recorded."""
        bundle = self._path(stack.bundle)
        if not bundle.is_dir():
            self._fail(
                (*loc, "bundle"),
                f"bundle directory {bundle} does not exist",
                f"create it or {_PATH_FIX}",
            )
            return stack.model_copy(update={"bundle": bundle})
        for link in _leaving_links(bundle):
            self._fail(
                (*loc, "bundle"),
                f"{link} is a symlink that leaves the bundle",
                "copy what it points to into the bundle, or remove the link",
            )
        files = [(("compose_files", i), n) for i, n in enumerate(stack.compose_files)]
        files += [
            (("restarts", i, "files", j), name)
            for i, rule in enumerate(stack.restarts)
            for j, name in enumerate(rule.files)
        ]
        try:
            project_environment(bundle, stack.revealed_env())
        except DotenvError as exc:
            self._fail((*loc, "bundle"), str(exc), "fix the bundle's .env (compose reads it)")
        for at, name in files:
            if not (bundle / name).is_file():
                self._fail(
                    (*loc, *at),
                    f"{name!r} is not a file in bundle {bundle}",
                    "create it there or fix the name (paths are relative to the bundle)",
                )
        checks = []
        for i, check in enumerate(stack.health.http):
            if check.ca_file is not None:
                ca_file = self._path(check.ca_file)
                self._readable(ca_file, (*loc, "health", "http", i, "ca_file"), "ca_file")
                check = check.model_copy(update={"ca_file": ca_file})
            checks.append(check)
        health = stack.health.model_copy(update={"http": checks})
        return stack.model_copy(update={"bundle": bundle, "health": health})

    def registry(self, registry: RegistryConfig, loc: Loc) -> RegistryConfig:
        """The registry with its password read from `password_env`."""
        password = self._secret(registry.password_env, (*loc, "password_env"))
        return registry.with_password(password) if password else registry

    def config(self, config: DeployConfig) -> DeployConfig:
        """The whole config with every local part resolved and read."""
        images = config.images.model_copy(
            update={
                "registries": [
                    self.registry(r, ("images", "registries", i))
                    for i, r in enumerate(config.images.registries)
                ]
            }
        )
        return config.model_copy(
            update={
                "targets": self.targets(config.targets),
                "stacks": [self.stack(s, ("stacks", i)) for i, s in enumerate(config.stacks)],
                "images": images,
            }
        )

    def targets(self, targets: list[TargetConfig]) -> list[TargetConfig]:
        """Every target resolved and read."""
        return [self.target(t, ("targets", i)) for i, t in enumerate(targets)]

    def sections(self, data: dict[str, Any], root: type[BaseModel]) -> None:
        """For a config that failed validation: check the parts that are valid on their own,
        so one run reports every problem."""
        parts: list[tuple[Loc, Any, type[BaseModel], Callable[[Any, Loc], object]]] = [
            (("targets", i), raw, TargetConfig, self.target) for i, raw in _items(data, "targets")
        ]
        if root is not TargetList:
            parts += [
                (("stacks", i), raw, StackConfig, self.stack) for i, raw in _items(data, "stacks")
            ]
            images = data.get("images")
            parts += [
                (("images", "registries", i), raw, RegistryConfig, self.registry)
                for i, raw in _items(images, "registries")
            ]
        for loc, raw, model, check in parts:
            try:
                section = model.model_validate(raw)
            except ValidationError:
                continue
            check(section, loc)


def _leaving_links(bundle: Path, limit: int = 10) -> list[Path]:
    """Symlinks under `bundle` that resolve outside it (at most `limit`)."""
    root = Path(os.path.realpath(bundle))
    found: list[Path] = []
    for directory, dirs, files in os.walk(bundle):
        for name in dirs + files:
            path = Path(directory, name)
            target = Path(os.path.realpath(path))
            if path.is_symlink() and target != root and root not in target.parents:
                found.append(path)
        if len(found) >= limit:
            break
    return found[:limit]


def _items(data: object, key: str) -> list[tuple[int, Any]]:
    value = data.get(key) if isinstance(data, dict) else None
    return list(enumerate(value)) if isinstance(value, list) else []
