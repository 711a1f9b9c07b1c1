"""report.html as a person sees it: rendered by headless Chromium (Debian's chromium + chromium-driver,
driven by selenium), the key elements are visible and laid out, and nothing is requested from a network.

.ci/run installs Chromium; elsewhere the test skips with the install command. Under CI it fails instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tailor.report.html import write_report

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# Flags for a sandboxed, offline machine: no first-run work and no background connections.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,2000",
)


@pytest.fixture
def browser(tmp_path):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        message = "headless Chromium missing: apt-get install chromium chromium-driver (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium (the dev extra)")
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # selenium must not look for a driver online
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


def test_report_renders_in_chromium_with_its_key_elements_visible(browser, run_dir, tmp_path):
    from selenium.webdriver.common.by import By

    report = write_report(run_dir)
    browser.get(report.html.resolve().as_uri())
    assert browser.title.startswith("tailor report · qa: rag")

    recommendation = browser.find_element(By.ID, "recommendation")
    assert recommendation.is_displayed()
    assert recommendation.find_element(By.CLASS_NAME, "headline").text == report.recommendation.headline
    steps = recommendation.find_elements(By.CSS_SELECTOR, "ol.steps li")
    assert len(steps) == len(report.recommendation.decisions[0].steps)
    assert all(step.is_displayed() for step in steps)

    # Every plot is drawn with a real size, and none is hidden behind another element's box.
    plots = browser.find_elements(By.CSS_SELECTOR, ".plot svg")
    assert len(plots) >= 6
    for svg in plots:
        assert svg.is_displayed() and svg.size["width"] > 150 and svg.size["height"] > 100
    kinds = {p.get_attribute("data-plot") for p in browser.find_elements(By.CSS_SELECTOR, ".plot")}
    assert {"quality-vs-cost", "task", "cost", "loss-curve"} <= kinds

    tables = browser.find_elements(By.CSS_SELECTOR, "table.metrics")
    assert tables and all(t.is_displayed() for t in tables)
    cited = browser.find_element(By.CSS_SELECTOR, ".ctx.cited")
    assert cited.is_displayed() and "[office-lisbon]" in cited.text
    tokens = browser.find_elements(By.CSS_SELECTOR, ".interpret .tok")
    assert [t.text for t in tokens] == ["Lis", "bon"]
    assert browser.find_element(By.ID, "recipe").is_displayed()

    # Self-contained: the page loaded nothing but itself.
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded == []
    assert browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000
