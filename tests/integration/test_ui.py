"""The Prefect UI shows a deploy: headless Chromium opens the host's run and finds its steps, and
the deploy run's summary artifact."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tests.integration.deploykit import Deploy

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture()
def browser(tmp_path: Path):  # type: ignore[no-untyped-def]
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1600,1000",
                 f"--user-data-dir={tmp_path / 'chromium'}"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _page_text_until(driver: webdriver.Chrome, wanted: list[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = driver.find_element(By.TAG_NAME, "body").text
        if all(w in text for w in wanted):
            return text
        time.sleep(0.5)
    return text


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
    assert "Completed" in _page_text_until(browser, ["Completed", "Task Runs"], 60)
    browser.save_screenshot(str(tmp_path / "host-run.png"))
    _open_tab(browser, "Task Runs")
    steps = ["preflight vm1", "lock vm1/shop", "pull dockyard/app:v1 on vm1", "health vm1/shop"]
    text = _page_text_until(browser, steps, 60)
    browser.save_screenshot(str(tmp_path / "flow-run-task-runs.png"))
    missing = [s for s in steps if s not in text]
    assert not missing, f"not on the page: {missing}\n{text[:2000]}"

    browser.get(f"{ui}/runs/flow-run/{run_id}")
    assert "Completed" in _page_text_until(browser, ["Completed", "Artifacts"], 60)
    _open_tab(browser, "Artifacts")
    text = _page_text_until(browser, ["deploy-summary"], 60)
    browser.save_screenshot(str(tmp_path / "flow-run-artifacts.png"))
    assert "deploy-summary" in text, text[:2000]


def _open_tab(browser: webdriver.Chrome, name: str) -> None:
    browser.find_element(
        By.XPATH, f"//li[contains(@class, 'p-tab')][normalize-space()='{name}']"
    ).click()
