"""deploy.yaml: the pure model (targets, stacks, images, disk, steps, rollout) and its loader.

Layout: fields (value types), target, stack, images, steps, rollout, deploy (the sections and the
whole file, no I/O); problems (ConfigError), interpolate (${...} and the secret rules),
local (key files, known_hosts, bundles, secrets from the environment), load (the entry)."""

from dockyard.config.deploy import DeployConfig, DiskConfig
from dockyard.config.fields import FieldProblem, parse_duration
from dockyard.config.images import ImagesConfig, PerDeployImage, RegistryConfig, ServiceImage
from dockyard.config.interpolate import SecretLookup, SecretSourceError
from dockyard.config.load import UNSET_PER_DEPLOY, load_config, load_targets, with_unset_per_deploy
from dockyard.config.problems import ConfigError, Problem, format_loc
from dockyard.config.rollout import RolloutConfig
from dockyard.config.stack import (
    HealthConfig,
    HealthHook,
    HttpCheck,
    JobConfig,
    RestartRule,
    StackConfig,
    UpConfig,
)
from dockyard.config.steps import LockStep, StepOverride, StepPolicy, StepsConfig
from dockyard.config.target import TargetConfig, TargetList

__all__ = [
    "UNSET_PER_DEPLOY",
    "ConfigError",
    "DeployConfig",
    "DiskConfig",
    "FieldProblem",
    "HealthConfig",
    "HealthHook",
    "HttpCheck",
    "ImagesConfig",
    "JobConfig",
    "LockStep",
    "PerDeployImage",
    "Problem",
    "RegistryConfig",
    "RestartRule",
    "RolloutConfig",
    "SecretLookup",
    "SecretSourceError",
    "ServiceImage",
    "StackConfig",
    "StepOverride",
    "StepPolicy",
    "StepsConfig",
    "TargetConfig",
    "TargetList",
    "UpConfig",
    "format_loc",
    "load_config",
    "load_targets",
    "parse_duration",
    "with_unset_per_deploy",
]
