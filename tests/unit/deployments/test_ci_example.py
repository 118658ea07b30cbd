"""The CI example never splices workflow expressions into a shell script (script injection)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

EXAMPLE = Path(__file__).resolve().parents[3] / "deployments" / "ci" / "github-actions.yml"


def _steps() -> list[dict[str, object]]:
    workflow = yaml.safe_load(EXAMPLE.read_text())
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_no_run_script_holds_an_expression() -> None:
    runs = [str(step["run"]) for step in _steps() if "run" in step]
    assert runs
    for script in runs:
        assert "${{" not in script, f"an expression is spliced into a script: {script}"


def test_the_inputs_reach_the_deploy_commands_through_the_environment() -> None:
    for step in _steps():
        script = str(step.get("run", ""))
        if "--set" not in script or "validate" in script:
            continue
        env = step.get("env")
        assert isinstance(env, dict), script
        for name in re.findall(r'--set "(\w+)=\$\1"', script):
            assert str(env[name]).startswith("${{ inputs."), (name, env)
        assert len(re.findall(r"--set ", script)) == len(re.findall(r'--set "(\w+)=\$\1"', script))
