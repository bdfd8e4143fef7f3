"""The dashboard in a real browser: Debian's Chromium driven by Playwright, over a warehouse and a lake
filled by the demo cycle, offline (a request to any other host is aborted). Screenshots of every page
land in .local/screenshots/."""

from __future__ import annotations

import os
import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect, sync_playwright

from market_weather.settings import PROJECT_ROOT
from tests.conftest import run_module
from tests.integration.conftest import demo_env

CHROMIUM = "/usr/bin/chromium"  # the system's browser (apt's chromium), never one Playwright downloads
SCREENSHOTS = PROJECT_ROOT / ".local" / "screenshots"
REFRESH_SECONDS = 10
ABORTED = "net::ERR_ABORTED"  # a request cut short by leaving its page: no failure (a blocked one is ERR_FAILED)
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
    """A page that reaches the dashboard alone: a request to any other host is aborted and kept in
    `page.elsewhere`. Console errors, uncaught exceptions, failed requests and error answers are collected
    in `page.problems`."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=dashboard)
    elsewhere: list[str] = []

    def offline(route: Route) -> None:
        if urlsplit(route.request.url).netloc == urlsplit(dashboard).netloc:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", offline)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", lambda r: problems.append(f"{r.url}: {r.failure}") if r.failure != ABORTED else None)
    page.on("response", lambda r: problems.append(f"{r.url}: {r.status}") if r.status >= 400 else None)
    page.problems = problems
    page.elsewhere = elsewhere
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


def shows_the_api(page: Page) -> None:
    """Swagger UI, drawn from the dashboard's own copy, lists every operation of the dashboard's API."""
    spec = page.request.get("/api/openapi.json").json()
    operations = [path for path, methods in spec["paths"].items() for _ in methods]
    listed = page.locator(".swagger-ui .opblock-summary-path")
    expect(listed).to_have_count(len(operations))
    assert sorted(listed.evaluate_all("paths => paths.map(p => p.dataset.path)")) == sorted(operations)
    assert "/api/health" in operations
    expect(page.locator(".swagger-ui .info .title")).to_contain_text(spec["info"]["title"])


def test_every_page_the_navigation_links_to_opens_offline_without_error(page):
    """Every link of every page's navigation, the API's page included; nothing reaches another host."""
    page.goto("/")
    visited: list[str] = []
    links = [page.url]
    while links:
        url = links.pop(0)
        if url in visited:
            continue
        visited.append(url)
        assert urlsplit(url).netloc == urlsplit(page.url).netloc, f"{url} leaves the dashboard"
        page.goto(url)
        if page.locator("body[data-refresh-seconds]").count():  # a page of the dashboard: wait for its data
            refreshed(page)
        else:
            shows_the_api(page)
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SCREENSHOTS / "dashboard-api.png", full_page=True)
        links += page.locator("header nav a").evaluate_all("links => links.map(a => a.href)")
        assert page.elsewhere == [], f"{url} reached out of the dashboard"
        assert page.problems == [], url
    paths = {urlsplit(url).path for url in visited}
    assert "/api/docs" in paths and len(paths) > 2, visited


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
