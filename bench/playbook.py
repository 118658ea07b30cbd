"""The Ansible contender: bench/ansible/deploy.yml run by bench/.ansible-venv's ansible-playbook
over the bench's SSH route (pipelining, ControlPersist), secrets in a 0600 vars file."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bench.commands import run
from bench.contenders import DEPLOY_TIMEOUT, HERE, Outcome
from bench.workspace import SSH_HOST, SSH_PORT, SSH_USER, Workspace

PLAYBOOK_DIR = HERE / "ansible"
VENV_BIN = HERE / ".ansible-venv" / "bin"
ANSIBLE_PLAYBOOK = VENV_BIN / "ansible-playbook"
NAME = "ansible"


def installed() -> bool:
    """Whether `make bench` made bench/.ansible-venv (ansible-core with community.docker)."""
    return ANSIBLE_PLAYBOOK.exists()


class AnsibleContender:
    """ansible-playbook deploy.yml: copy, .env, compose pull, migration, `up --wait`."""

    name = NAME
    is_reference = False

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.remote_dir = ws.remote_dir(NAME)
        self.home = ws.root / "ansible"
        self.home.mkdir(exist_ok=True, mode=0o700)
        self.inventory = self.home / "inventory.json"
        self.inventory.write_text(json.dumps(self._inventory(), indent=2))

    def setup(self, version: str) -> None:
        """The playbook copies its own bundle and .env."""

    def deploy(self, version: str, silent: bool = False) -> Outcome:
        if silent:
            raise ValueError("the Ansible contender has no silent-step variant")
        variables = self._write_vars(version)
        argv = [str(ANSIBLE_PLAYBOOK), "-i", str(self.inventory), "-e", f"@{variables}",
                str(PLAYBOOK_DIR / "deploy.yml")]  # fmt: skip
        try:
            return Outcome(run(argv, DEPLOY_TIMEOUT, self._env()))
        finally:
            variables.unlink()

    def stop(self) -> None:
        """End the SSH ControlPersist master, if one is still up."""
        for socket in (self.home / "cp").glob("*"):
            run(["ssh", "-F", "/dev/null", "-o", f"ControlPath={socket}", "-O", "exit",
                 f"{SSH_USER}@{SSH_HOST}"], timeout=10)  # fmt: skip

    def _inventory(self) -> dict[str, object]:
        host = {
            "ansible_host": SSH_HOST,
            "ansible_port": SSH_PORT,
            "ansible_user": SSH_USER,
            "ansible_ssh_private_key_file": str(self.ws.lab.key_file),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={self.ws.known_hosts} "
            "-o StrictHostKeyChecking=yes",
        }
        return {"all": {"hosts": {"vm2": host}}}

    def _write_vars(self, version: str) -> Path:
        """The extra vars of `version` in a 0600 file (the password stays off the command line)."""
        path = self.home / "vars.json"
        images = self.ws.release_vars(version)
        values = {
            "remote_dir": self.remote_dir,
            "bundle_dir": str(self.ws.stack_dir),
            "app_image": images["APP_IMAGE"],
            "migrator_image": images["MIGRATOR_IMAGE"],
            "db_password": self.ws.db_password,
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(values, out)
        return path

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "ANSIBLE_CONFIG": str(PLAYBOOK_DIR / "ansible.cfg"),
            "ANSIBLE_HOME": str(self.home / "home"),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.home / "cp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_DISPLAY_FAILED_STDERR": "1",  # a failed task's output is the error's tail
            "PYTHONWARNINGS": "ignore",  # cryptography's deprecation notes would hide it
        }
