"""The interactive view end to end, in a real headless browser.

`gridsim app` serves sim/app.py (Mesa's SolaraViz) on a free port; Playwright drives Debian's
chromium (`/usr/bin/chromium`: a Playwright browser download is impossible here, and
`make test` installs the package with apt-get when it is missing).  The page must load with
every request to another host blocked (it works offline), a lever slider must move and Reset
rebuild the town with it (the map changes), Step and Play must advance the model and the
charts must change with it; a screenshot is saved (`GRIDSIM_APP_SCREENSHOT=1` also writes
docs/figures/app.png, the README's picture).  About 30 s.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("GRIDSIM_CHROMIUM", "/usr/bin/chromium"))
DOCS_SHOT = ROOT / "docs" / "figures" / "app.png"

sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[test,app]')")
pytest.importorskip("solara", reason="needs the app extra (pip install -e '.[app]')")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing: this test drives Debian's chromium (`make chromium` installs it with "
                "apt-get, as root); Playwright's own browser download is not possible here", allow_module_level=True)

pytestmark = pytest.mark.timeout(150)

#: SHA-256 of each chart's current picture (the <img> elements' blobs), in page order
HASHES = """async () => Promise.all([...document.querySelectorAll('img')].map(async (img) => {
    const data = await (await fetch(img.src)).arrayBuffer();
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
    return Array.from(digest).map((b) => b.toString(16).padStart(2, '0')).join('');
}))"""
MAP, SAFETY, BACKLOG, RESOLUTION = range(4)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    port = free_port()
    log_path = tmp_path_factory.mktemp("app") / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "sim", "app", "--port", str(port), "--residents", "10000"],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"gridsim app exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"gridsim app did not answer within 90 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)        # the CLI and the solara server it started
            proc.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def model_time(page) -> float:
    return float(page.get_by_text("Time:").inner_text().split(":")[1])


def test_the_view_in_a_browser(app_url, tmp_path):
    blocked: list[str] = []
    t0 = time.monotonic()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 880})

            def offline(route):          # the page may reach this machine only
                if route.request.url.startswith(("http://127.0.0.1", "data:", "blob:")):
                    route.continue_()
                else:
                    blocked.append(route.request.url)
                    route.abort()

            page.route("**/*", offline)
            page.goto(app_url)
            step = page.get_by_role("button", name="Step")
            step.wait_for(timeout=60_000)
            sync_api.expect(page.locator("img")).to_have_count(4, timeout=30_000)

            def changed(before: list[str], which: tuple[int, ...], timeout: float = 20.0) -> list[str]:
                """Wait until the pictures `which` differ from `before`; return the new hashes."""
                end = time.monotonic() + timeout
                while True:
                    now = page.evaluate(HASHES)
                    if len(now) == 4 and all(now[i] != before[i] for i in which):
                        return now
                    if time.monotonic() > end:
                        pytest.fail(f"charts {which} did not change within {timeout} s")
                    time.sleep(0.2)

            start = page.evaluate(HASHES)
            assert len(start) == 4 and len(set(start)) == 4

            # a lever: residents per grid 800 → 1,000, then Reset builds the town again with it
            lever = page.get_by_role("slider", name="Residents per grid")
            assert lever.get_attribute("aria-valuenow") == "800"
            lever.focus()
            for _ in range(4):
                lever.press("ArrowRight")
            assert lever.get_attribute("aria-valuenow") == "1000"
            page.get_by_role("button", name="Reset").click()
            rebuilt = changed(start, (MAP,))            # fewer, larger grids: another map
            t_reset = model_time(page)

            # one step: a day more, and every chart follows it
            step.click()
            stepped = changed(rebuilt, (MAP, SAFETY, BACKLOG, RESOLUTION))
            assert model_time(page) == t_reset + 1

            # ten days a render (Render Interval 1 → 21 moves in steps of 2), two steps: 42 days more
            interval = page.get_by_role("slider", name="Render Interval (steps)")
            interval.focus()
            for _ in range(10):
                interval.press("ArrowRight")
            assert interval.get_attribute("aria-valuenow") == "21"
            step.click()
            stepped = changed(stepped, (SAFETY, BACKLOG))
            step.click()
            changed(stepped, (SAFETY, BACKLOG))
            sync_api.expect(page.get_by_text("Time:")).to_have_text(f"Time: {t_reset + 43:.1f}", timeout=20_000)

            # play, then pause
            page.get_by_role("button", name="▶").click()
            time.sleep(2.0)
            page.get_by_role("button", name="❚❚").click()
            time.sleep(1.0)
            assert model_time(page) > t_reset + 43

            shot = tmp_path / "app.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 50_000
            if os.environ.get("GRIDSIM_APP_SCREENSHOT"):
                shutil.copyfile(shot, DOCS_SHOT)
        finally:
            browser.close()
    assert not blocked, f"the page asked other hosts for {blocked[:5]}: it must work offline"
    assert time.monotonic() - t0 < 60, "the browser part took over a minute"
