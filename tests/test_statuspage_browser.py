"""The built page in a real browser: Debian's Chromium driven by Playwright, checked by axe-core.

Needs the ``chromium`` Debian package and the Python packages ``playwright`` and
``axe-playwright-python`` (no ``playwright install``: the system Chromium is used). Skipped
only when /usr/bin/chromium is absent outside CI; in CI (``CI`` set) it must run.
Screenshots are written to the test's tmp_path (``pytest --basetemp=DIR`` keeps them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Literal

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium)",
                allow_module_level=True)

from axe_playwright_python.sync_playwright import Axe  # noqa: E402
from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402
from test_statuspage_sample import sample_page  # noqa: E402

from statuspage import build_site  # noqa: E402
from statuspage.data import SubscribeInfo  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = sample_page()
    services = tuple(replace(s, name=f"{s.name}-{i}") for i in range(5) for s in base.services)
    out = tmp_path_factory.mktemp("browser") / "site"
    subscribe = SubscribeInfo("https://status.example.com/subscribe", email=True, webhooks=True)
    build_site(replace(base, services=services, site=replace(base.site, subscribe=subscribe)),
               out)
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


Scheme = Literal["light", "dark"]


def _open(browser: Browser, url: str, width: int, scheme: Scheme = "light",
          javascript: bool = True) -> tuple[Page, list[str]]:
    page = browser.new_page(viewport={"width": width, "height": 800}, color_scheme=scheme,
                            java_script_enabled=javascript)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    return page, requests


def _serious(page: Page) -> list[tuple[str, str, int]]:
    violations = Axe().run(page).response["violations"]
    return [(v["id"], v["impact"], len(v["nodes"])) for v in violations
            if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize(
    ("name", "width", "scheme"),
    [
        ("index.html", 360, "light"),
        ("index.html", 1280, "light"),
        ("index.html", 360, "dark"),
        ("history.de.html", 360, "light"),
        ("history.html", 1280, "dark"),
    ],
    ids=["index-360", "index-1280", "index-360-dark", "history-de-360", "history-1280-dark"],
)
def test_page_in_chromium(browser: Browser, site: Path, tmp_path: Path, name: str, width: int,
                          scheme: Scheme) -> None:
    page, requests = _open(browser, (site / name).as_uri(), width, scheme)
    try:
        page.screenshot(path=str(tmp_path / f"{name}-{width}-{scheme}.png"), full_page=True)
        assert _serious(page) == []
        # usable from 360 px: nothing wider than the window but the scrolling tables
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert page.locator("h1").count() == 1
        assert all(url.startswith("file://") for url in requests), requests
    finally:
        page.close()


def test_readable_without_javascript(browser: Browser, site: Path) -> None:
    page, _ = _open(browser, (site / "index.html").as_uri(), 1280, javascript=False)
    try:
        assert page.locator("#banner-h").inner_text() == "Partial outage"
        assert page.locator(".svc").count() == 20
        first_segment = page.locator(".bar li").first
        assert first_segment.bounding_box() is not None
        hidden_text = page.locator(".bar .vh").first.text_content()
        assert hidden_text is not None and ": no data" in hidden_text
    finally:
        page.close()


def test_dark_mode_changes_the_colours(browser: Browser, site: Path) -> None:
    backgrounds = []
    schemes: tuple[Scheme, ...] = ("light", "dark")
    for scheme in schemes:
        page, _ = _open(browser, (site / "index.html").as_uri(), 1280, scheme)
        backgrounds.append(page.evaluate("getComputedStyle(document.body).backgroundColor"))
        page.close()
    assert backgrounds == ["rgb(255, 255, 255)", "rgb(13, 17, 23)"]


@pytest.mark.parametrize(("width", "scheme"), [(360, "light"), (1280, "dark"), (360, "dark"),
                                               (1280, "light")])
def test_the_charts_and_the_days_open_without_javascript_and_pass_axe(
        browser: Browser, site: Path, width: int, scheme: Scheme) -> None:
    """The charts are in a <details>: opened by a click (no script of the page's), drawn
    within the window, named for screen readers, and no serious axe finding."""
    page, _ = _open(browser, (site / "index.html").as_uri(), width, scheme)
    try:
        api = page.locator("#svc-api-0")
        api.locator("details.latency summary").click()
        charts = api.locator("svg.latency-chart")
        assert charts.count() == 2
        for i in range(2):
            box = charts.nth(i).bounding_box()
            assert box is not None and 0 < box["width"] <= min(width, 300) and box["height"] > 0
            assert charts.nth(i).get_attribute("aria-hidden", timeout=1000) == "true"
        assert api.locator("figcaption").first.inner_text().startswith("Last 24 hours: Median")
        api.locator("details.days summary").click()  # the bar's days in words, opened too
        assert api.locator("details.days li").count() == 4  # (its incidents name "api")
        assert api.locator("details.days li").first.is_visible()
        assert _serious(page) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    finally:
        page.close()


@pytest.mark.parametrize(("width", "scheme"), [(360, "light"), (360, "dark"), (1280, "dark")])
def test_the_embed_is_one_accessible_line(browser: Browser, site: Path, width: int,
                                          scheme: Scheme) -> None:
    page, requests = _open(browser, (site / "embed" / "web-0.html").as_uri(), width, scheme)
    try:
        text = page.locator(".embed-line").inner_text()
        assert text.startswith("Website") and "Down" in text and "target 99.9%" in text
        assert page.locator("a[target=_top]").get_attribute("href") == "../index.html#svc-web-0"
        assert _serious(page) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert all(url.startswith("file://") for url in requests), requests
    finally:
        page.close()


@pytest.mark.parametrize(("width", "scheme"), [(360, "light"), (1280, "light"), (360, "dark"),
                                               (1280, "dark")])
@pytest.mark.parametrize("show", ["form", "sent", "invalid", "confirm", "unsubscribed"])
def test_the_subscribe_page_shows_one_state_and_passes_axe(
        browser: Browser, site: Path, tmp_path: Path, width: int, scheme: Scheme,
        show: str) -> None:
    """subscribe.html as ``upwatch run`` answers with it: the state it fills in shows, the
    rest stays hidden, without JavaScript; every state passes axe at both widths."""
    built = (site / "subscribe.html").read_text(encoding="utf-8")
    assert 'href="subscribe.html"' in (site / "index.html").read_text(encoding="utf-8")
    answer = site / f"subscribe-{show}.html"  # beside the page, so its links resolve
    answer.write_text(built.replace('data-show="form"', f'data-show="{show}"').replace(
        "<!--upwatch:problems-->", "<ul><li>email: not an email address</li></ul>"),
        encoding="utf-8")
    page, requests = _open(browser, answer.as_uri(), width, scheme)  # the page has no script
    try:
        form = page.locator("#subscribe-form")
        assert form.is_visible() == (show in ("form", "invalid"))
        if show == "form":
            assert page.locator("#sub-email").is_visible()
            boxes = page.locator("input[name=service]")
            assert boxes.count() == len(page.locator("fieldset label").all()) == 20
            assert not boxes.first.is_visible()  # 20 services: behind "Choose services"
            page.locator("details.choose summary").click()
            assert boxes.first.is_visible()
        else:
            state = page.locator(f"#{show}")
            assert state.is_visible() and state.inner_text().strip()
            others = page.locator(".notice:visible, form.act:visible")
            assert others.count() == 1
        page.screenshot(path=str(tmp_path / f"subscribe-{show}-{width}-{scheme}.png"),
                        full_page=True)
        assert _serious(page) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert all(url.startswith("file://") for url in requests), requests
    finally:
        page.close()
        answer.unlink()
