"""capture.hw_decode: a hardware decoder asked for where there is none (this machine has no GPU
video engine) falls back to software decoding, says so once in the camera's "up" line, and
decodes the same frames; a broken file is still called broken."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from evaluation import synth
from streamer.capture import sources
from streamer.config import CaptureConfig, ConfigError, parse_config
from streamer.monitor import build_monitor
from tests.test_monitor import config_dict

NO_HW = not Path("/dev/dri").exists()  # no GPU video engine: every hardware decoder is missing


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "street.mp4"
    synth.make_demo(path, seed=3, width=320, height=180, fps=10.0, timeline=(("normal", 2.0),))
    return path


@pytest.fixture(autouse=True)
def fresh_fallbacks(monkeypatch):
    monkeypatch.setattr(sources, "_HW_UNAVAILABLE", set())


def first_frames(opened, n: int = 5) -> list[np.ndarray]:
    frames = [opened.reader.read()[0] for _ in range(n)]
    opened.reader.release()
    return frames


@pytest.mark.skipif(not NO_HW, reason="this machine has a GPU video engine (/dev/dri)")
@pytest.mark.parametrize("asked", ["vaapi", "mfx", "drm"])
def test_a_decoder_that_is_not_here_falls_back_to_software_with_the_same_frames(clip, asked):
    software = first_frames(sources.open_source(str(clip), CaptureConfig(reader="opencv")))
    opened = sources.open_source(str(clip), CaptureConfig(hw_decode=asked))
    assert opened.decoding == f"software ({asked} not available here)"
    frames = first_frames(opened)
    assert all(a is not None and np.array_equal(a, b) for a, b in zip(frames, software, strict=True))
    assert asked in sources._HW_UNAVAILABLE  # the next open goes straight to software
    again = sources.open_source(str(clip), CaptureConfig(hw_decode=asked))
    assert again.decoding == f"software ({asked} not available here)" and again.reader.read() is not None
    again.reader.release()


@pytest.mark.skipif(not NO_HW, reason="this machine has a GPU video engine (/dev/dri)")
def test_auto_takes_what_works_and_says_it_is_software_here(clip):
    opened = sources.open_source(str(clip), CaptureConfig(hw_decode="auto"))
    assert opened.decoding == "software (no hardware decoder available)"
    assert first_frames(opened)[0].shape == (180, 320, 3)


def test_a_broken_file_is_still_called_broken_not_a_missing_decoder(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    with pytest.raises(OSError, match="cannot open file source: not a readable video"):
        sources.open_source(str(broken), CaptureConfig(hw_decode="vaapi"))
    assert not sources._HW_UNAVAILABLE  # software failed too: the file, not the decoder


def test_an_unknown_decoder_is_one_config_line():
    with pytest.raises(ConfigError, match=r"capture.hw_decode: expected one of \['none', 'auto', 'vaapi'"):
        parse_config({"cameras": [{"name": "gate", "source": "0"}], "capture": {"hw_decode": "cuda"}})


@pytest.mark.skipif(not NO_HW, reason="this machine has a GPU video engine (/dev/dri)")
def test_the_monitor_runs_on_software_and_its_log_says_why_once(tiny_bundle, clip, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    camera = {"name": "street", "source": str(clip), "loop": True}
    config = parse_config(config_dict(tiny_bundle, [camera], tmp_path, capture={"hw_decode": "vaapi"}))
    monitor = build_monitor(config, threading.Event())
    monitor.start()
    try:
        deadline = time.monotonic() + 20
        sample = monitor.metrics.registry.get_sample_value
        while sample("vigil_frames_analysed_total", {"camera": "street"}) < 10:
            assert time.monotonic() < deadline, "no frames analysed"
            time.sleep(0.1)
    finally:
        monitor.shutdown()
    up = [r.getMessage() for r in caplog.records if "camera up" in r.getMessage()]
    assert up == [
        "street: camera up (file source at 10.0 fps, decoded by software (vaapi not available here))"
    ]
    assert not [r for r in caplog.records if "VIDEOIO" in r.getMessage()]
