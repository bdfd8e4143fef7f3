"""The dashboard in a real browser: Debian's Chromium driven by Playwright, over a warehouse and a lake
filled by the demo cycle. Screenshots of every page land in .local/screenshots/."""

from __future__ import annotations

import os
import time

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from market_weather.settings import PROJECT_ROOT
from tests.conftest import run_module
from tests.integration.conftest import demo_env

CHROMIUM = "/usr/bin/chromium"  # the system's browser (apt's chromium), never one Playwright downloads
SCREENSHOTS = PROJECT_ROOT / ".local" / "screenshots"
REFRESH_SECONDS = 10
CHARTS = {
    "markets": ["candles"],
    "weather": ["temperature", "humidity", "wind", "aqi", "pollutants"],
    "pipeline": ["freshness-history", "run-rows", "lake", "dead-letters"],
}
POINTS = """ids => ids.map(id => {
    const chart = echarts.getInstanceByDom(document.getElementById(id));
    return (chart.getOption().series || []).reduce((n, s) => n + (s.data || []).length, 0);
})"""


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        # As root (CI's containers) Chromium runs only without its sandbox.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, dashboard):
    """A page whose console errors and uncaught exceptions are collected in `page.problems`."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=dashboard)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.problems = problems
    yield page
    context.close()


def refreshed(page: Page, at_least: int = 1, timeout: float = 30) -> None:
    page.wait_for_function(f"Number(document.body.dataset.refreshed || 0) >= {at_least}", timeout=timeout * 1000)


@pytest.mark.parametrize("name", list(CHARTS))
def test_every_page_renders_its_charts_with_data_and_no_console_error(page, name):
    page.goto(f"/{name}")
    refreshed(page)
    points = page.evaluate(POINTS, CHARTS[name])
    assert all(points), dict(zip(CHARTS[name], points, strict=True))
    assert page.locator("#problem").is_hidden()
    assert page.locator("main table tbody tr td.empty").count() == 0, "every table has rows"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"dashboard-{name}.png", full_page=True)
    assert page.problems == []


def test_the_chosen_interval_and_range_redraw_the_candles_and_stay_in_the_address(page):
    page.goto("/markets")
    refreshed(page)
    page.select_option("#interval", "1m")
    page.select_option("#range", "1h")
    page.wait_for_url("**interval=1m**range=1h**")
    candles = "echarts.getInstanceByDom(document.getElementById('candles')).getOption().series[0].data.length"
    page.wait_for_function(f"[59, 60].includes({candles})")  # an hour of minutes, counted back from the newest
    assert page.evaluate(POINTS, ["candles"])[0] == 2 * page.evaluate(candles), "a points bar beneath each candle"
    page.locator("#prices tbody tr[data-key='ethereum']").click()
    page.wait_for_url("**asset=ethereum**")
    expect(page.locator("#candles-title")).to_contain_text("ETH")
    page.reload()
    refreshed(page)
    assert page.locator("#interval").input_value() == "1m" and page.locator("#asset").input_value() == "ethereum"
    assert page.problems == []


def test_a_new_load_appears_within_one_refresh(page, filled):
    page.goto("/pipeline")
    refreshed(page)
    before = set(page.locator("#runs tbody tr").evaluate_all("rows => rows.map(r => r.dataset.key)"))
    result = run_module(demo_env(filled), "market_weather.stack", "demo")
    assert result.returncode == 0, result.stdout + result.stderr
    loaded = time.monotonic()
    page.wait_for_function(
        "n => document.querySelectorAll('#runs tbody tr').length > n",
        arg=len(before),
        timeout=(REFRESH_SECONDS + 5) * 1000,
    )
    waited = time.monotonic() - loaded
    after = page.locator("#runs tbody tr").evaluate_all("rows => rows.map(r => r.dataset.key)")
    (new,) = set(after) - before
    assert after[0] == new and new.startswith("lake_to_warehouse")
    assert waited <= REFRESH_SECONDS + 2, f"the new load showed {waited:.1f} s after it finished"
    assert page.problems == []
