"""The Prefect UI shows a deploy: headless Chromium opens the host's run and finds its steps, and
the deploy run's summary artifact."""

from __future__ import annotations

from pathlib import Path

import httpx
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.integration.browserkit import page_text_until
from tests.integration.deploykit import Deploy


def test_ui_shows_the_deploy_steps_and_the_summary_artifact(
    deploy: Deploy, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    deploy.forget_images("127.0.0.1:5000/dockyard/app:v1")
    result = deploy.deploy("v1")
    assert result.code == 0, result.stderr[-2000:]
    run_id = result.report["flow_run_id"]
    ui = deploy.env["PREFECT_API_URL"].removesuffix("/api")

    body = {"flow_runs": {"parent_flow_run_id": {"any_": [run_id]}}}
    hosts = httpx.post(f"{deploy.env['PREFECT_API_URL']}/flow_runs/filter", json=body,
                       timeout=10).json()  # fmt: skip
    assert [h["name"] for h in hosts] == ["deploy vm1"]

    browser.get(f"{ui}/runs/flow-run/{hosts[0]['id']}")  # the host's run holds its steps
    assert "Completed" in page_text_until(browser, ["Completed", "Task Runs"], 60)
    browser.save_screenshot(str(tmp_path / "host-run.png"))
    _open_tab(browser, "Task Runs")
    steps = ["preflight vm1", "lock vm1/shop", "pull dockyard/app:v1 on vm1", "health vm1/shop"]
    text = page_text_until(browser, steps, 60)
    browser.save_screenshot(str(tmp_path / "flow-run-task-runs.png"))
    missing = [s for s in steps if s not in text]
    assert not missing, f"not on the page: {missing}\n{text[:2000]}"

    browser.get(f"{ui}/runs/flow-run/{run_id}")
    assert "Completed" in page_text_until(browser, ["Completed", "Artifacts"], 60)
    _open_tab(browser, "Artifacts")
    text = page_text_until(browser, ["deploy-summary"], 60)
    browser.save_screenshot(str(tmp_path / "flow-run-artifacts.png"))
    assert "deploy-summary" in text, text[:2000]


def _open_tab(browser: webdriver.Chrome, name: str) -> None:
    browser.find_element(
        By.XPATH, f"//li[contains(@class, 'p-tab')][normalize-space()='{name}']"
    ).click()
