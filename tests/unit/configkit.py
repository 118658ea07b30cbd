"""Shared pieces of the config unit tests: a project directory, a full config, writers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dockyard.config import ConfigError, DeployConfig, load_config

SECRET = "s3cr3t-Value-1f9"
KEY_DATA_MARK = "b3BlbnNzaC1rZXktdjE"  # base64 "openssh-key-v1", inside every OpenSSH key
ENVIRON = {"DB_PASSWORD": SECRET, "REGISTRY_TOKEN": SECRET + "-reg"}
VARIABLES = {"APP_IMAGE": "registry.local/app:abc123", "MIGRATOR_IMAGE": "registry.local/mig:1"}


def new_keypair() -> tuple[str, str]:
    """A fresh ed25519 key pair: (OpenSSH private key text, public key line)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return private, public


SERVICES = ("db", "worker", "nginx", "redis", "postgres")


def make_project(tmp_path: Path, keypair: tuple[str, str]) -> Path:
    """A key pair, known_hosts and a stack bundle under `tmp_path`, as full_config expects."""
    private, public = keypair
    (tmp_path / "deploy_key").write_text(private)
    (tmp_path / "deploy_key").chmod(0o600)
    (tmp_path / "deploy_key.pub").write_text(public + "\n")
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:2222 {public}\n")
    stack = tmp_path / "stack"
    (stack / "conf").mkdir(parents=True)
    (stack / "docker-compose.yml").write_text(
        "services:\n  app:\n    image: ${APP_IMAGE}\n  migrator:\n    image: ${MIGRATOR_IMAGE}\n"
        + "".join(f"  {name}:\n    image: example/{name}:1\n" for name in SERVICES)
    )
    (stack / "docker-compose.prod.yml").write_text("services: {}\n")
    (stack / "conf" / "nginx.conf").write_text("worker_processes 1;\n")
    return tmp_path


def full_config() -> dict[str, Any]:
    return {
        "targets": [
            {
                "name": "vm1",
                "host": "127.0.0.1",
                "port": 2222,
                "user": "deploy",
                "key_file": "./deploy_key",
                "known_hosts": "./known_hosts",
                "keepalive_interval": "20s",
                "keepalive_count_max": 3,
                "connect_timeout": 5,
                "max_channels": 6,
            }
        ],
        "stacks": [
            {
                "project": "shop",
                "bundle": "./stack",
                "remote_dir": "/opt/shop",
                "compose_files": ["docker-compose.yml", "docker-compose.prod.yml"],
                "profiles": ["web"],
                "env": {
                    "APP_IMAGE": "${APP_IMAGE}",
                    "MIGRATOR_IMAGE": "${MIGRATOR_IMAGE}",
                    "PROXY_IMAGE": "nginx:1.27",
                    "DB_PASSWORD": "${secret:DB_PASSWORD}",
                    "DATABASE_URL": "postgres://shop:${secret:DB_PASSWORD}@db/shop",
                    "LOG_LEVEL": "${LOG_LEVEL:-info}",
                    "WORKERS": 4,
                    "DEBUG": False,
                    "PRICE": "$$5",
                },
                "required": ["APP_IMAGE"],
                "jobs": [
                    {"name": "db", "service": "db", "kind": "up-wait", "timeout": "2m"},
                    {
                        "name": "migrate",
                        "service": "migrator",
                        "command": ["python", "manage.py", "migrate"],
                        "retries": 2,
                        "rerun_safe": True,
                    },
                ],
                "up": {"stop_first": ["worker"], "remove_orphans": False, "wait_timeout": "5m"},
                "restarts": [{"service": "nginx", "files": ["conf/nginx.conf"]}],
                "health": {
                    "compose": True,
                    "http": [{"url": "http://127.0.0.1:8080/health", "attempts": 5}],
                    "hooks": [
                        {"name": "smoke", "http": "http://127.0.0.1:8080/"},
                        {"name": "check", "service": "app", "command": ["./check.sh"]},
                    ],
                },
            }
        ],
        "images": {
            "parallel": 4,
            "moving_tags": ["latest", "main"],
            "services": {"worker": {"pull": "always"}},
            "registries": [
                {"host": "registry.local", "username": "ci", "password_env": "REGISTRY_TOKEN"}
            ],
        },
        "disk": {"min_free_gb": 20, "max_used_pct": 80, "keep_releases": 5},
        "steps": {
            "defaults": {"timeout": "10m", "retries": 1, "retry_delay": 3},
            "pull": {"timeout": "1h", "retries": 4},
            "lock": {"wait": "3h", "expiry": "2h"},
        },
    }


def write(root: Path, data: dict[str, Any] | str, name: str = "deploy.yaml") -> Path:
    path = root / name
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text)
    return path


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    node: Any = data
    for key in keys[:-1]:
        node = node[key]
    if value is DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value


DELETE = object()


def load(root: Path, data: dict[str, Any] | str, **kwargs: Any) -> DeployConfig:
    """The config `data` written under `root`, loaded with VARIABLES and ENVIRON by default."""
    kwargs.setdefault("variables", VARIABLES)
    kwargs.setdefault("environ", ENVIRON)
    return load_config(write(root, data), **kwargs)


def problems_of(root: Path, data: dict[str, Any] | str, **kwargs: Any) -> ConfigError:
    """The ConfigError loading `data` raises (the test fails if it loads)."""
    with pytest.raises(ConfigError) as info:
        load(root, data, **kwargs)
    return info.value
