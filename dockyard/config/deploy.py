"""A whole deploy.yaml: targets, stacks, images, disk, steps, rollout; the cross-section rules."""

from __future__ import annotations

from pydantic import Field, PrivateAttr, SecretStr, model_validator

from dockyard.config.fields import FieldProblem, Int, Model, Number
from dockyard.config.images import ImagesConfig, PerDeployImage
from dockyard.config.rollout import RolloutConfig
from dockyard.config.stack import StackConfig
from dockyard.config.steps import StepsConfig
from dockyard.config.target import TargetConfig, unique_target_names
from dockyard.images.ref import ImageRef, InvalidImageRef


class DiskConfig(Model):
    """Disk gate thresholds and how many releases cleanup keeps."""

    min_free_gb: Number = Field(15.0, ge=0)
    max_used_pct: Number = Field(70.0, gt=0, le=100)
    keep_releases: Int = Field(3, ge=1)


def _image_problem(
    name: str, value: str | SecretStr | None, images: ImagesConfig
) -> str | None:  # fmt: skip
    """Why the value of per-deploy image `name` cannot be used (None when it can)."""
    if value is None:
        return None
    if isinstance(value, SecretStr) or not value or any(c.isspace() for c in value):
        return f"per-deploy image {name} is empty, has spaces or is a secret"
    try:
        ref = ImageRef.parse(value)
    except InvalidImageRef as exc:
        return f"per-deploy image {name} is not an image reference: {exc}"
    if not images.registry_allowed(ref):
        return (f"per-deploy image {name} ({value}) is not from images.allowed_registries "
                f"({', '.join(images.allowed_registries)})")  # fmt: skip
    return None


class DeployConfig(Model):
    """A whole deploy.yaml."""

    targets: list[TargetConfig] = Field(min_length=1)
    stacks: list[StackConfig] = Field(min_length=1)
    images: ImagesConfig = ImagesConfig()
    disk: DiskConfig = DiskConfig()
    steps: StepsConfig = StepsConfig()
    rollout: RolloutConfig = RolloutConfig()
    _secrets: dict[str, str] = PrivateAttr(default_factory=dict)

    def with_secrets(self, names: dict[str, str]) -> DeployConfig:
        """A copy that knows the value of every `${secret:NAME}` it was rendered with
        (value -> NAME)."""
        copy = self.model_copy()
        copy._secrets = dict(names)
        return copy

    def named_secrets(self) -> dict[str, str]:
        """Each `${secret:NAME}` value -> NAME."""
        return dict(self._secrets)

    @model_validator(mode="after")
    def _check(self) -> DeployConfig:
        unique_target_names(self.targets)
        for i, stack in enumerate(self.stacks):
            for other in self.stacks[:i]:
                if stack.project == other.project:
                    raise FieldProblem(
                        f"project {stack.project!r} is deployed twice",
                        "give each stack its own project name",
                        ("stacks", i, "project"),
                    )
                a, b = stack.remote_dir, other.remote_dir
                if a == b or a.startswith(b + "/") or b.startswith(a + "/"):
                    raise FieldProblem(
                        f"remote_dir {a} overlaps {other.project}'s {b}",
                        "give each stack a separate directory",
                        ("stacks", i, "remote_dir"),
                    )
        env_names = {name for stack in self.stacks for name in stack.env}
        for i, name in enumerate(self.images.per_deploy):
            if name not in env_names:
                raise FieldProblem(
                    f"per_deploy names {name}, which no stack's env sets",
                    "add it to a stack's env (e.g. APP_IMAGE: ${APP_IMAGE}) or remove it",
                    ("images", "per_deploy", i),
                )
        for i, stack in enumerate(self.stacks):
            for name in self.images.per_deploy:
                if problem := _image_problem(name, stack.env.get(name), self.images):
                    raise FieldProblem(
                        problem,
                        f"pass an image reference from an allowed registry: --set "
                        f"{name}=registry/app:tag",
                        ("stacks", i, "env", name),
                    )
        return self

    def per_deploy_images(self, project: str | None = None) -> list[PerDeployImage]:
        """Every (stack, env name, image) named by images.per_deploy; of one stack if
        `project` is given."""
        images = []
        for stack in self.stacks:
            if project is not None and stack.project != project:
                continue
            for name in self.images.per_deploy:
                value = stack.env.get(name)
                if isinstance(value, str):
                    images.append(PerDeployImage(stack.project, name, value))
        return images

    def secret_values(self) -> frozenset[str]:
        """Every non-empty secret value in the config, for masking output: each
        `${secret:NAME}` value itself and the whole env values rendered with one."""
        values = [t.private_key for t in self.targets] + [t.passphrase for t in self.targets]
        values += [r.password for r in self.images.registries]
        values += [v for s in self.stacks for v in s.env.values() if isinstance(v, SecretStr)]
        found = {v.get_secret_value() for v in values if v and v.get_secret_value()}
        return frozenset(found | {v for v in self._secrets if v})

    def public_values(self) -> dict[str, str]:
        """The config's non-secret values that output shows (names, hosts, paths, the
        non-secret env values such as image refs) -> where each is set."""
        found: dict[str, str] = {}
        for i, t in enumerate(self.targets):
            for key in ("name", "host", "user"):
                found.setdefault(str(getattr(t, key)), f"targets[{i}].{key}")
        for i, stack in enumerate(self.stacks):
            at = f"stacks[{i}]"
            found.setdefault(stack.project, f"{at}.project")
            found.setdefault(stack.remote_dir, f"{at}.remote_dir")
            found.setdefault(str(stack.bundle), f"{at}.bundle")
            for name, value in stack.env.items():
                if isinstance(value, str):
                    found.setdefault(value, f"{at}.env.{name}")
        for i, registry in enumerate(self.images.registries):
            for key in ("host", "username"):
                found.setdefault(getattr(registry, key), f"images.registries[{i}].{key}")
        return {value: where for value, where in found.items() if value}
