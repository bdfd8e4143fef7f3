"""The intake's upload page and the dashboard's Files page in a real browser (Debian's Chromium driven by
Playwright, offline): a file sent with the picker and one dropped on the page, each followed by the page to
`loaded` once the warehouse load ran; the same content again answers with the first file; a refused file shows the
API's answer; the Files page lists them all with their counts. Screenshots land in .local/screenshots/."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect, sync_playwright

from market_weather.job import lake_to_warehouse
from market_weather.settings import PROJECT_ROOT
from tests.integration.conftest import start_dashboard
from tests.integration.test_intake_service import LOGIN, start_intake

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = PROJECT_ROOT / ".local" / "screenshots"
FIXTURES = Path(__file__).parent.parent / "fixtures" / "files"


@pytest.fixture
def services(settings, tmp_path):
    intake, intake_url = start_intake(settings, tmp_path / "files", tmp_path / "inbox", limit=5_000_000)
    dashboard, dashboard_url = start_dashboard(settings)
    yield intake_url, dashboard_url
    for process in (intake, dashboard):
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def browser():
    with sync_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield browser
        browser.close()


@dataclass
class Watched:
    """A page, what it tried to reach elsewhere (aborted), and its console errors."""

    page: Page
    elsewhere: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def offline_page(browser, base: str, **options) -> Watched:
    """A page that reaches `base` alone (anything else is aborted and kept), its console errors kept."""
    context = browser.new_context(viewport={"width": 1200, "height": 900}, base_url=base, **options)
    elsewhere: list[str] = []

    def offline(route: Route) -> None:
        if urlsplit(route.request.url).netloc == urlsplit(base).netloc:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", offline)
    watched = Watched(context.new_page(), elsewhere)
    problems = watched.problems
    watched.page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    watched.page.on("pageerror", lambda error: problems.append(str(error)))
    return watched


def drop(page: Page, name: str, content: bytes) -> None:
    """`content` dropped on the page's drop zone as a file named `name`, as a browser hands a dropped file over."""
    transfer = page.evaluate_handle(
        """([name, bytes]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type: "text/csv" }));
            return transfer;
        }""",
        [name, list(content)],
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})


def test_files_uploaded_through_the_page_end_loaded_and_the_files_page_lists_them(
    settings, lake, spark, services, browser
):
    intake_url, dashboard_url = services
    watched = offline_page(browser, intake_url, http_credentials={"username": LOGIN[0], "password": LOGIN[1]})
    page = watched.page
    page.goto("/")
    expect(page.locator("#send")).to_be_disabled()

    # With the picker: CoinGecko's export, its asset from its name.
    page.set_input_files("#file", str(FIXTURES / "btc-usd-max.csv"))
    expect(page.locator("#chosen")).to_contain_text("btc-usd-max.csv")
    page.click("#send")
    expect(page.locator("#http")).to_have_text("HTTP 202")
    expect(page.locator("#progress")).to_have_attribute("value", "100")
    expect(page.locator("#status")).to_have_text("in_lake", timeout=30_000)
    coingecko = lake.files.find_one({"name": "btc-usd-max.csv"})
    assert '"id": "' + coingecko["_id"] + '"' in (page.locator("#answer").text_content() or "")

    lake_to_warehouse.run(spark, settings, run_id="upload-page-1")
    expect(page.locator("#status")).to_have_text("loaded", timeout=15_000)  # the page follows the file
    page.click("#send")  # the same content again: the first file, loaded by now
    expect(page.locator("#http")).to_have_text("HTTP 200")
    expect(page.locator("#status")).to_have_text("loaded")
    expect(page.locator("#message")).to_contain_text(coingecko["_id"])

    # Dropped on the page: Open-Meteo's export of Paris, its location chosen in the form.
    page.select_option("#location", "paris")
    drop(page, "paris-hourly.csv", (FIXTURES / "open-meteo-paris-hourly.csv").read_bytes())
    expect(page.locator("#chosen")).to_contain_text("paris-hourly.csv")
    page.click("#send")
    expect(page.locator("#status")).to_have_text("in_lake", timeout=30_000)
    lake_to_warehouse.run(spark, settings, run_id="upload-page-2")
    expect(page.locator("#status")).to_have_text("loaded", timeout=15_000)
    answer = page.locator("#answer").text_content() or ""
    assert '"location": "paris"' in answer and '"loaded": ' in answer

    # Refused: the API's answer, shown as it gives it.
    drop(page, "notes.txt", b"nothing to load")
    page.click("#send")
    expect(page.locator("#http")).to_have_text("HTTP 415")
    expect(page.locator("#status")).to_have_text("refused")
    expect(page.locator("#message")).to_contain_text("notes.txt")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "intake-upload.png", full_page=True)
    assert [p for p in watched.problems if "status of 415" not in p] == []
    assert watched.elsewhere == []

    dashboard = offline_page(browser, dashboard_url)
    files = dashboard.page
    files.goto("/files")
    rows = files.locator("#files tbody tr")
    expect(rows).to_have_count(2)
    expect(files.locator("#files-by-status")).to_have_text("2 loaded")
    first = files.locator(f"#files tbody tr[data-key='{coingecko['_id']}'] td")
    expect(first.nth(1)).to_have_text("loaded")
    assert [first.nth(i).text_content() for i in (6, 7, 8, 9, 10)] == ["6", "6", "0", "0", "6"]
    files.screenshot(path=SCREENSHOTS / "dashboard-files.png", full_page=True)
    assert dashboard.problems == [] and dashboard.elsewhere == []
