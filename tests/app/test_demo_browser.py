"""The demo in a real browser: headless Chromium (the distribution's package, driven by Playwright) opens
the page, runs the Shannon tab and the Efros-Leung tab by clicking, checks that their output appears,
and saves a screenshot (SEQGEN_DEMO_SCREENSHOT=docs/demo.png writes the README's picture).

Skips, saying why, when playwright or a system chromium is missing: `apt-get install chromium` (Debian /
Ubuntu; scripts/setup.sh does it when run as root with apt-get) and the dev extras provide them.
"""

import os
import shutil
import socket
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY_TEXT

pytest.importorskip("gradio", reason="the demo needs gradio: pip install -e '.[demo]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (dev extra)")
CHROMIUM = next((p for p in (os.environ.get("SEQGEN_CHROMIUM"), shutil.which("chromium"),
                             shutil.which("chromium-browser")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no system chromium: apt-get install chromium (or set "
                                                         "SEQGEN_CHROMIUM to a Chromium binary)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    """The demo on 127.0.0.1 with no models and tiny-shakespeare from the repository's data cache, or a
    small stand-in text in its place (no download in a test)."""
    from seqgen.app.demo import DemoContext, launch

    data = tmp_path / "data"
    cached = ROOT / "data" / "raw" / "shakespeare_char" / "corpus.txt"
    (data / "raw" / "shakespeare_char").mkdir(parents=True)
    target = data / "raw" / "shakespeare_char" / "corpus.txt"
    if cached.is_file():
        shutil.copy(cached, target)
    else:
        target.write_text(TINY_TEXT, encoding="utf-8")
    app, url = launch(DemoContext(outputs=tmp_path / "outputs", data_root=data), port=free_port(),
                      prevent_thread_lock=True)
    yield url
    app.close()


def test_shannon_and_efros_leung_by_clicking(served, tmp_path):
    shot = Path(os.environ.get("SEQGEN_DEMO_SCREENSHOT") or tmp_path / "demo.png")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(served)
        page.get_by_role("tab", name="2 · Shannon / Mark V. Shaney").click()
        page.click("#shannon-sample")
        out = page.locator("#shannon-out textarea")
        page.wait_for_function("el => el.value.length > 100", arg=out.element_handle(), timeout=120_000)
        assert "fitted in" in page.locator("body").inner_text()

        page.get_by_role("tab", name="6 · Efros–Leung").click()
        if "SEQGEN_DEMO_SCREENSHOT" not in os.environ:   # the README's picture keeps the default 128 x 128
            size = page.locator("#el-size input[type=number]")
            size.fill("64")
            size.press("Enter")
        page.click("#el-grow")
        page.locator("#el-out img").wait_for(state="visible", timeout=180_000)
        src = page.locator("#el-out img").get_attribute("src")
        assert src and ("/file=" in src or "/gradio_api/file=" in src or src.startswith("data:"))
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(500)
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=False)
        browser.close()
    assert shot.stat().st_size > 10_000
