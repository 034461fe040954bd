"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) work offline: every file they load is served
by chute itself, from the fastapi-offline package, never from a CDN."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Request, expect, sync_playwright

from tests.http.conftest import LiveServer, fast_config
from tests.http.test_dashboard_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

# Every URL a page names: attributes, and the `url: '/openapi.json'` of Swagger UI's config.
URL_PATTERNS = [
    re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']"""),
    re.compile(r"""\burl\s*:\s*["']([^"']+)["']"""),
    re.compile(r"""spec-url\s*=\s*["']([^"']+)["']"""),
]


def page_urls(html: str) -> set[str]:
    return {m for pattern in URL_PATTERNS for m in pattern.findall(html)}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_only_local_files(api: httpx.AsyncClient, page: str) -> None:
    response = await api.get(page)
    assert response.status_code == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]
    urls = page_urls(response.text)
    assert "/openapi.json" in urls
    assert any(u.endswith(".js") for u in urls), urls
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page} loads {url} from another host"
        asset = await api.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
    assets = [u for u in urls if u.endswith((".js", ".css"))]
    assert len(assets) == (2 if page == "/docs" else 1), assets


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.mark.parametrize(
    ("page", "title"),
    [("/docs", ".swagger-ui .info .title"), ("/redoc", "h1")],
)
def test_docs_pages_render_without_the_internet(
    browser: Browser, chute_env: str, page: str, title: str
) -> None:
    """In Chromium with every foreign request blocked, the page renders chute's API."""
    context = browser.new_context()
    foreign: list[str] = []
    script_errors: list[str] = []

    def block_foreign(route: object, request: Request) -> None:
        foreign.append(request.url)
        route.abort()  # type: ignore[attr-defined]

    try:
        with LiveServer(fast_config()) as server:
            context.route(re.compile(rf"^(?!{re.escape(server.url)}/).*"), block_foreign)
            tab = context.new_page()
            tab.set_default_timeout(20_000)
            tab.on("pageerror", lambda exc: script_errors.append(str(exc)))
            tab.goto(server.url + page)
            expect(tab.locator(title).first).to_contain_text("chute", timeout=60_000)
            expect(tab.get_by_text("/queues/{name}/put").first).to_be_attached(timeout=30_000)
            ARTIFACTS.mkdir(exist_ok=True)
            tab.screenshot(path=ARTIFACTS / f"api-docs{page.replace('/', '-')}.png")
    finally:
        context.close()
    assert foreign == []
    assert script_errors == []
