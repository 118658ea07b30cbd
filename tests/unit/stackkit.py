"""A real loaded config with one target and one stack, and its HostStack on a fake host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dockyard.runner import Runner
from dockyard.session import DeployRequest, HostStack, load
from tests.unit.configkit import make_project, new_keypair, write

IMAGE = "registry.local/app@sha256:" + "a1" * 32


def deploy_request(tmp_path: Path, **stack: Any) -> DeployRequest:
    """deploy.yaml for target vm1 and stack `shop` (image IMAGE), `stack` merged into it."""
    root = make_project(tmp_path, new_keypair())
    (root / "stack" / "docker-compose.yml").write_text(f"services:\n  app:\n    image: {IMAGE}\n")
    config = {
        "targets": [{"name": "vm1", "host": "127.0.0.1", "port": 2222, "user": "deploy",
                     "key_file": "./deploy_key", "known_hosts": "./known_hosts"}],
        "stacks": [{"project": "shop", "bundle": "./stack", "remote_dir": "/opt/shop", **stack}],
    }  # fmt: skip
    return DeployRequest(str(write(root, config)), {}, "run-1", "tester")


def stack_on(host: Runner, tmp_path: Path, **stack: Any) -> HostStack:
    """The HostStack of vm1/shop whose calls go to `host`."""
    hs = load(deploy_request(tmp_path, **stack)).host_stack("vm1", "shop", lambda _line: None)
    hs.runs_on = host
    return hs
