"""What a run started through the Prefect API may choose: its deployment's own config, the
config's per-deploy images (from allowed registries) and its hosts; never who it is or whose
lease it takes over (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dockyard.config.deploy import DeployConfig
from dockyard.errors import DockyardError
from dockyard.images.ref import ImageRef, InvalidImageRef

DERIVED = ("actor", "resumes", "parent_run_id")


class RunInputRefused(DockyardError):
    """A run parameter a deployment's run may not set, or a value it may not have."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(f"{message}; {fix}")
        self.message = message
        self.fix = fix


def check_deployment_params(params: Mapping[str, Any], pinned: Any, deployment: str) -> None:
    """Refuse a run of `deployment` whose config_path is not the one the deployment pins, or
    that sets a parameter dockyard derives itself (actor, resumes, parent_run_id)."""
    if not isinstance(pinned, str) or not pinned:
        raise RunInputRefused(f"deployment {deployment} pins no config_path",
                              "register it again with `dockyard serve -c CONFIG` or `dockyard "
                              "pool deploy -c CONFIG`")  # fmt: skip
    if params.get("config_path") != pinned:
        raise RunInputRefused(
            f"config_path of this run is not deployment {deployment}'s config",
            "a deployment deploys only the config it was made for: start the deployment of "
            "that config, or leave config_path as it is",
        )
    forged = [name for name in DERIVED if params.get(name) not in (None, "", [], ())]
    if forged:
        raise RunInputRefused(
            f"{', '.join(forged)} may not be set on a run of deployment {deployment}",
            "leave them unset: dockyard records the deployment as the actor and takes over only "
            "the leases of runs it resumes itself (`dockyard resume RUN`)",
        )


def check_run_names(variables: Mapping[str, Any], per_deploy: Sequence[str]) -> None:
    """Refuse variables that are not among `per_deploy` (the config's per-deploy images; when
    the config does not load with the run's variables, the names it leaves to a deploy)."""
    unknown = sorted(set(variables) - set(per_deploy))
    if unknown:
        declared = ", ".join(per_deploy) or "none"
        raise RunInputRefused(
            f"variables {', '.join(unknown)} are not per-deploy images of this config "
            f"(per-deploy: {declared})",
            "a run may set only the images images.per_deploy names; change anything else in "
            "the config and register the deployment again",
        )


def check_run_choices(
    variables: Mapping[str, Any], hosts: Sequence[str] | None, config: DeployConfig
) -> None:  # fmt: skip
    """Refuse variables that are not the config's per-deploy images, values that are not image
    references from `images.allowed_registries`, and hosts that are not targets."""
    per_deploy = config.images.per_deploy
    check_run_names(variables, per_deploy)
    for name in per_deploy:
        if name in variables:
            _check_image(name, variables[name], config)
    targets = {t.name for t in config.targets}
    strangers = sorted(set(hosts or ()) - targets)
    if strangers:
        raise RunInputRefused(f"hosts {', '.join(strangers)} are not targets of this config",
                              f"choose among {', '.join(sorted(targets))}")  # fmt: skip


def _check_image(name: str, value: Any, config: DeployConfig) -> None:
    fix = f"pass an image reference: {name}=registry/app:tag"
    if not isinstance(value, str):
        raise RunInputRefused(f"variable {name} is not a string", fix)
    try:
        ref = ImageRef.parse(value)
    except InvalidImageRef as exc:
        raise RunInputRefused(f"variable {name}: {exc}", fix) from None
    if not config.images.registry_allowed(ref):
        allowed = ", ".join(config.images.allowed_registries)
        raise RunInputRefused(f"variable {name}: {ref.name} is not from images."
                              f"allowed_registries ({allowed})",
                              "push the image to an allowed registry, or add its registry to "
                              "images.allowed_registries in the config")  # fmt: skip
