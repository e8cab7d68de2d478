"""The guard's window, for real: Xvfb, the monitor as a process, keys sent with xdotool, the screen
grabbed with ffmpeg and read back with Tesseract. Keys answer at all times (paused too), pausing
freezes the picture but not analysis or evidence, the window fits the screen with readable panels,
and the heatmap is on the picture."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from evaluation import synth
from tests.test_demo_model import DEMO
from tests.test_monitor import assert_named_evidence_exists, config_dict, read_log, run_vigil, wait_until

pytestmark = pytest.mark.display


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "street.mp4"
    synth.make_demo(path, seed=3, width=640, height=360, fps=10.0, timeline=(("fight", 6.0),))
    return path


class Screen:
    """An Xvfb display of a given size, its windows, keys and screenshots; with a window manager
    (openbox), as on every desktop: without one, Qt's window sometimes never paints on a loaded
    machine (measured with OpenCV alone under two busy cores: 1 to 7 of 20 windows stayed black
    without a window manager, 0 of 40 with openbox)."""

    def __init__(self, size: tuple[int, int], window_manager: bool = False):
        tools = ("Xvfb", "ffmpeg", "xdotool", "xwininfo") + (("openbox",) if window_manager else ())
        for tool in tools:
            if shutil.which(tool) is None:
                pytest.skip(
                    f"{tool} (Debian packages xvfb, ffmpeg, xdotool, x11-utils, openbox) is needed for "
                    "window tests"
                )
        self.size = size
        self.display = f":{100 + os.getpid() % 50}"
        self.server = subprocess.Popen(
            ["Xvfb", self.display, "-screen", "0", f"{size[0]}x{size[1]}x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(
            lambda: (
                self._run("xdpyinfo").returncode == 0
                if shutil.which("xdpyinfo")
                else self._run("xwininfo", "-root").returncode == 0
            ),
            timeout=10,
        )
        self.env = {"DISPLAY": self.display, "QT_QPA_PLATFORM": "xcb"}
        self.manager = (
            subprocess.Popen(
                ["openbox"],
                env={**os.environ, "DISPLAY": self.display},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if window_manager
            else None
        )

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            args, capture_output=True, text=True, timeout=30, env={**os.environ, "DISPLAY": self.display}
        )

    def window(self, name: str = "Vigil") -> str | None:
        found = self._run("xdotool", "search", "--name", name)
        return found.stdout.split()[0] if found.returncode == 0 and found.stdout.split() else None

    def placement(self, window: str) -> tuple[int, int, int, int]:
        """(x, y, width, height) of the window's picture on the screen (inside any frame)."""
        info = self._run("xwininfo", "-id", window).stdout
        values = dict(line.strip().split(":", 1) for line in info.splitlines() if ":" in line)
        keys = ("Absolute upper-left X", "Absolute upper-left Y", "Width", "Height")
        return tuple(int(values[key]) for key in keys)

    def geometry(self, window: str) -> tuple[int, int]:
        return self.placement(window)[2:]

    def key(self, window: str, key: str) -> None:
        self._run("xdotool", "windowfocus", "--sync", window)
        assert self._run("xdotool", "key", key).returncode == 0

    def grab(self, path: Path) -> np.ndarray:
        done = subprocess.run(
            [
                "ffmpeg",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "x11grab",
                "-video_size",
                f"{self.size[0]}x{self.size[1]}",
                "-i",
                self.display,
                "-frames:v",
                "1",
                str(path),
            ],
            capture_output=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        return cv2.imread(str(path))

    def close(self) -> None:
        if self.manager is not None:
            self.manager.terminate()
            self.manager.wait(timeout=10)
        self.server.terminate()
        self.server.wait(timeout=10)


def read_text(image: np.ndarray, path: Path) -> str:
    """What Tesseract reads on the picture: the test of 'readable' a person would accept."""
    if shutil.which("tesseract") is None:
        pytest.skip("tesseract (Debian tesseract-ocr) is needed to read the panel")
    cv2.imwrite(str(path), image)
    return subprocess.run(
        ["tesseract", str(path), "-", "--psm", "11"], capture_output=True, text=True, timeout=60
    ).stdout


@pytest.fixture
def screen():
    s = Screen((1600, 900))
    yield s
    s.close()


@pytest.fixture
def desktop():
    """A screen with a window manager: the window is framed, as a guard's is."""
    s = Screen((1600, 900), window_manager=True)
    yield s
    s.close()


def window_config(bundle, cameras, tmp_path, **overlay):
    return config_dict(
        bundle,
        cameras,
        tmp_path,
        overlay={"display": "window", **overlay},
        alerts={"cooldown_s": 1.0, "post_roll_s": 1.0},
    )


def test_keys_answer_at_all_times_and_pause_freezes_only_the_picture(clip, tmp_path, desktop):
    screen = desktop
    # The demo model on a fight: strong heat, and alerts (cooldown 1 s) that go on during the pause.
    cameras = [{"name": "street", "source": str(clip), "loop": True}]
    config = window_config(DEMO, cameras, tmp_path, contours=False)
    config["alerts"].update(threshold=0.7, k=1, n=1)
    proc = run_vigil(config, tmp_path, env=screen.env)
    log = tmp_path / "alerts" / "alerts.jsonl"
    try:
        wait_until(
            lambda: screen.window() is not None and log.exists() and log.stat().st_size > 0, timeout=30
        )
        window = screen.window()
        # The first picture on the screen (a loaded machine paints late), then the held-back frames.
        wait_until(lambda: (screen.grab(tmp_path / "first.png") > 0).mean() > 0.05, timeout=30)
        time.sleep(1.5)
        screen.key(window, "p")
        time.sleep(0.5)
        paused = screen.grab(tmp_path / "paused.png")
        alerts_at_pause = len(read_log(tmp_path / "alerts")[0])
        time.sleep(2.5)
        still = screen.grab(tmp_path / "still.png")
        assert np.array_equal(paused, still), "the picture moved while paused"
        assert "PAUSED" in read_text(still, tmp_path / "ocr.png")
        # Analysis and evidence go on behind the frozen picture.
        assert len(read_log(tmp_path / "alerts")[0]) > alerts_at_pause, "no alert while paused"

        screen.key(window, "h")  # heat off: the frozen frame is redrawn without it
        time.sleep(0.5)
        no_heat = screen.grab(tmp_path / "no-heat.png")
        screen.key(window, "h")  # and back on
        time.sleep(0.5)
        heat_again = screen.grab(tmp_path / "heat-again.png")
        # Inside the picture, below the panel and the notices, above the alert banner.
        x, y, w, h = screen.placement(window)
        frame = (slice(y + 300, y + h - 100), slice(x, x + w))
        heat = np.abs(still[frame].astype(int) - no_heat[frame]).max(axis=2) > 25
        assert heat.sum() > 2000, "no heatmap on the picture (or 'h' did nothing)"
        assert np.abs(heat_again[frame].astype(int) - still[frame]).max(axis=2).mean() < 2

        screen.key(window, "s")  # a snapshot while paused: what the guard sees
        wait_until(lambda: list((tmp_path / "alerts").glob("snapshot-*.jpg")), timeout=5)
        screen.key(window, "c")
        screen.key(window, "c")
        screen.key(window, "p")  # resume: the picture moves again
        time.sleep(1.5)
        assert not np.array_equal(screen.grab(tmp_path / "moving.png")[frame], still[frame])
        screen.key(window, "q")
        proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        output, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, output
    assert "display paused" in output and "display resumed" in output and "snapshot saved" in output
    snapshot = cv2.imread(str(next((tmp_path / "alerts").glob("snapshot-*.jpg"))))
    assert snapshot is not None and snapshot.shape[0] >= 300
    assert_named_evidence_exists(tmp_path / "alerts")
    alerts, clips = read_log(tmp_path / "alerts")
    assert set(clips) == {a["id"] for a in alerts}
    assert not (tmp_path / "annotated.mp4").exists(), "the headless video was written in window mode"


def test_the_window_fits_the_screen_without_a_toolbar_and_four_panels_read(
    tiny_bundle, clip, tmp_path, screen
):
    names = ["north", "south", "east", "west"]
    cameras = [{"name": name, "source": str(clip), "loop": True} for name in names]
    config = window_config(tiny_bundle, cameras, tmp_path)
    proc = run_vigil(config, tmp_path, env=screen.env)
    try:
        wait_until(lambda: screen.window() is not None, timeout=30)
        time.sleep(4.0)  # every camera up and drawn
        width, height = screen.geometry(screen.window())
        shot = screen.grab(tmp_path / "grid.png")
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, output
    assert width >= 0.85 * 1600 and height >= 0.85 * 900, (width, height)
    assert abs(width / height - 16 / 9) < 0.05, (width, height)
    # No toolbar: the window's first rows are the picture (the top-left panel is black), not Qt's grey bar.
    assert shot[:8, :100].mean() < 30, shot[:8, :100].mean()
    text = read_text(shot, tmp_path / "ocr.png")
    for name in names:
        assert name in text, f"{name!r} not readable on the panel: {text!r}"
    assert "heat" in text and "CAM" in text, text  # which map the '*' class's heat is
