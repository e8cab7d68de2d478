"""The web console in a real browser (Debian's Chromium through its chromedriver, driven by
Selenium): log in, watch a camera's stream change, open an alert, play its clip, mark it, see the
decision in the audit log, export. Screenshots of each page are left in the test's folder."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest

from tests.test_console import PASSWORDS, fight_clip, start_console  # noqa: F401
from tests.test_monitor import read_log, wait_until

pytestmark = pytest.mark.browser
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# As the machine's notes say: without the background-networking flags Chromium keeps trying to
# reach Google's hosts, which this closed network refuses.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
)


def chromium(profile: Path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("Debian's chromium and chromium-driver are needed for the browser tests")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver


@pytest.fixture
def console(tmp_path, fight_clip):  # noqa: F811
    proc, base = start_console(tmp_path, fight_clip)
    try:
        yield base, tmp_path
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, output[-3000:]


def stream_picture(driver) -> bytes:
    return driver.find_element("id", "stream-street").screenshot_as_png


def element_text(driver, element_id: str) -> str | None:
    """An element's shown text, found and read in one script (None while it is not there)."""
    return driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.innerText.trim() : null", element_id
    )


def test_a_reviewer_watches_opens_plays_marks_and_exports(console, tmp_path):
    base, folder = console
    driver = chromium(tmp_path / "profile")
    try:
        driver.get(base + "/")
        assert driver.current_url.endswith("/login")
        driver.find_element("id", "name").send_keys("ann")
        driver.find_element("id", "password").send_keys(PASSWORDS["ann"])
        driver.find_element("id", "login").click()
        wait_until(lambda: driver.find_elements("id", "stream-street"), timeout=20)
        # The stream is live: the picture changes, while the dead camera shows why it has none.
        wait_until(
            lambda: driver.execute_script("return document.getElementById('stream-street').naturalWidth") > 0,
            timeout=20,
        )
        first = stream_picture(driver)
        wait_until(lambda: stream_picture(driver) != first, timeout=20)
        driver.save_screenshot(str(tmp_path / "live.png"))

        wait_until(lambda: len(read_log(folder / "alerts")[1]) >= 1, timeout=90)
        driver.get(base + "/alerts")
        driver.save_screenshot(str(tmp_path / "alerts.png"))
        alerts, clips = read_log(folder / "alerts")
        alert = next(a for a in alerts if a["id"] in clips)
        driver.find_element("css selector", f'a.alert-link[href="/alerts/{alert["id"]}"]').click()
        summary = driver.find_element("id", "summary").text
        assert "Vigil judged camera street as FIGHT" in summary and "Where:" in summary
        for shown in ("snapshot", "strip"):
            width = driver.execute_script(f"return document.getElementById('{shown}').naturalWidth")
            assert width > 300, shown
        # The clip plays: every frame the log counts, and its time runs.
        driver.execute_script("const v = document.getElementById('clip'); v.muted = true; v.play();")
        wait_until(
            lambda: driver.execute_script("return document.getElementById('clip').currentTime") > 0.2,
            timeout=30,
        )
        duration = driver.execute_script("return document.getElementById('clip').duration")
        frames = clips[alert["id"]]["frames"]
        assert abs(duration - frames / 25.0) < 0.1, (duration, frames)  # all of it, at the display's rate
        driver.execute_script("document.getElementById('clip').pause()")

        driver.find_element("id", "note").send_keys("two people fighting at the gate")
        driver.find_element("id", "confirm").click()
        # Read in one script: the page redraws the review panel on the answer, and an element found
        # before that redraw is stale by the time its text is asked for.
        wait_until(lambda: element_text(driver, "state") == "confirmed", timeout=10)
        assert "ann confirmed (was unreviewed)" in element_text(driver, "reviews")
        driver.set_window_size(1280, 2400)
        driver.save_screenshot(str(tmp_path / "alert.png"))
        driver.set_window_size(1280, 1000)

        driver.get(base + "/audit")
        row = driver.find_element("css selector", "#audit tbody tr").text
        assert "ann" in row and alert["id"] in row and "two people fighting at the gate" in row
        driver.save_screenshot(str(tmp_path / "audit.png"))

        driver.get(base + "/export")
        driver.find_element("id", "export").click()
        wait_until(
            lambda: driver.find_elements("id", "result") or driver.find_elements("id", "message"), timeout=30
        )
        assert driver.find_elements("id", "result"), driver.find_element("tag name", "main").text
        result = driver.find_element("id", "result").text
        assert "fight: 1 clip" in result
        exported = next((folder / "exports").iterdir())
        assert (exported / "fight" / f"{alert['id']}.mp4").stat().st_size > 1000
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)
