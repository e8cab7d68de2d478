"""Decode once, draw at the size shown, keep clips' frames compressed, and analyse a camera's
substream: each consumer gets the size it needs, and evidence stays full size."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from evaluation import synth
from streamer.capture.outlets import compress, decompress, fitted
from streamer.capture.packets import KeptDecoder, KeptFrame
from streamer.config import parse_config
from streamer.display import drawing
from streamer.display.compositor import CameraView
from streamer.monitor import build_monitor
from streamer.types import Analysis
from testbed.rtsp import free_port
from tests.test_monitor import config_dict, read_log, video_frames, wait_until


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """One street seen twice, as a camera sends it: main stream 640x360 at 25 fps, substream
    320x180 at 10 fps."""
    folder = tmp_path_factory.mktemp("streams")
    main, sub = folder / "main.mp4", folder / "sub.mp4"
    synth.make_demo(main, seed=3, width=640, height=360, fps=25.0, timeline=(("normal", 4.0),))
    synth.make_demo(sub, seed=3, width=320, height=180, fps=10.0, timeline=(("normal", 4.0),))
    return main, sub


def clip_size(path) -> tuple[int, int]:
    capture = cv2.VideoCapture(str(path))
    ok, picture = capture.read()
    capture.release()
    assert ok, path
    return picture.shape[:2]


def run_until_clips(monitor, clips: int = 1, timeout: float = 40.0):
    monitor.start()
    sample = monitor.metrics.registry.get_sample_value
    try:
        wait_until(
            lambda: (sample("vigil_alerts_total", {"camera": "street", "class": "fight"}) or 0) >= clips,
            timeout,
        )
        time.sleep(1.5)  # the post-roll
    finally:
        monitor.shutdown()


def test_fitting_shrinks_to_the_box_keeping_aspect_and_never_enlarges():
    image = np.zeros((720, 1280, 3), np.uint8)
    assert fitted(image, (480, 270)).shape == (270, 480, 3)
    assert fitted(image, (640, 540)).shape == (360, 640, 3)  # aspect kept: width decides
    assert fitted(image, (1920, 1080)) is image  # a bigger tile: drawn at the frame's own size
    assert fitted(image, None) is image
    assert drawing.shrink(image, 426, 240).shape == (240, 426, 3)


def held_bytes(pictures: list) -> int:
    """What a pre-roll's frames hold: their JPEGs, or the packet groups they were decoded from."""
    groups = {id(p.group): p.group.size for p in pictures if isinstance(p, KeptFrame)}
    return sum(groups.values()) + sum(len(p) for p in pictures if isinstance(p, bytes))


@pytest.mark.parametrize(("reader", "kept_as"), [("auto", KeptFrame), ("opencv", bytes)])
def test_a_grid_draws_tiles_at_their_size_and_clips_at_full_size_from_compressed_frames(
    scenes, tiny_bundle, tmp_path, reader, kept_as
):
    main, _ = scenes
    cameras = [
        {"name": "street", "source": str(main), "loop": True},
        {"name": "yard", "source": str(main), "loop": True},
    ]
    data = config_dict(
        tiny_bundle, cameras, tmp_path, alerts={"class_thresholds": {"shooting": 1.0}, "pre_roll_s": 1.0}
    )
    data["capture"]["reader"] = reader
    monitor = build_monitor(parse_config(data), threading.Event(), canvas_size=(640, 360))
    assert monitor.compositor.tile_box == (320, 360)
    run_until_clips(monitor)
    view = monitor.compositor.views["street"]
    frame = view.last[0]
    assert frame.image.shape == (180, 320, 3)  # shrunk once, on the camera's thread
    # The full-size frame is kept as the camera's packets (PyAV) or as a JPEG (OpenCV).
    assert isinstance(frame.kept, kept_as)
    full = KeptDecoder().picture(frame.kept) if kept_as is KeptFrame else decompress(frame.kept)
    assert full.shape == (360, 640, 3)
    # The pre-roll holds compressed frames: a tenth of their raw size or less.
    pictures = [e.picture for e in view.recent]
    assert len(pictures) == view.preroll_frames and all(isinstance(p, kept_as) for p in pictures)
    assert held_bytes(pictures) < 0.1 * len(pictures) * 640 * 360 * 3
    alerts, clips = read_log(tmp_path / "alerts")
    assert clips and set(clips) == {a["id"] for a in alerts}
    for record in clips.values():
        path = tmp_path / "alerts" / record["clip"]
        assert clip_size(path) == (360, 640)  # evidence at the camera's size, not the tile's
        assert video_frames(path) == record["frames"] >= 5  # pre-roll and post-roll


def test_a_pre_roll_frame_is_drawn_from_its_jpeg_close_to_the_raw_frame(scenes):
    capture = cv2.VideoCapture(str(scenes[0]))
    frames = [capture.read()[1] for _ in range(10)]
    capture.release()
    for raw in frames:
        error = np.abs(decompress(compress(raw, 85)).astype(int) - raw).mean()
        assert error < 3.0  # grey levels: what an investigator cannot tell apart at 25 fps


def analysis(camera: str, seqs, stamps, value: float) -> Analysis:
    maps = np.full((len(seqs), 4, 4), value, np.float32)
    return Analysis(camera, tuple(seqs), tuple(stamps), np.array([0.2, 0.8]), maps, 1, 0.0)


def test_a_frame_gets_the_map_of_the_analysed_frame_captured_at_or_before_it():
    """A substream numbers its frames on its own: the display's frames are matched to analysed
    ones by capture time, never by sequence number."""
    view = CameraView("street", 10)
    view.store(analysis("street", [3, 4], [10.0, 10.1], 0.5))
    view.store(analysis("street", [4, 5], [10.1, 10.2], 0.9))
    assert view.map_for(9.99) is None  # before anything analysed: no heat
    assert float(view.map_for(10.05)[0].max()) == pytest.approx(0.5)
    assert float(view.map_for(10.15)[0].max()) == pytest.approx(0.9)  # newest decision wins
    assert float(view.map_for(10.25)[0].max()) == pytest.approx(0.9)
    assert view.map_for(4.0) is None and view.map_for(250.0) is not None  # main seq 250 != sub seq


def test_in_a_grid_a_substream_feeds_both_and_the_main_stream_is_never_opened(
    scenes, tiny_bundle, tmp_path, caplog
):
    _, sub = scenes
    port = free_port()  # nothing listens: opening the main stream would log it down
    cameras = [
        {
            "name": "street",
            "source": f"rtsp://admin:pw@127.0.0.1:{port}/main",
            "substream": str(sub),
            "loop": True,
        },
        {"name": "yard", "source": str(sub), "loop": True},
    ]
    data = config_dict(tiny_bundle, cameras, tmp_path, alerts={"class_thresholds": {"shooting": 1.0}})
    with caplog.at_level("INFO"):
        monitor = build_monitor(parse_config(data), threading.Event(), canvas_size=(640, 360))
        street = [c for c in monitor.captures if c.camera.name == "street"]
        # Its only stream: counted as the camera itself (camera_up, frames captured).
        assert [(c.source, c.label) for c in street] == [(str(sub), "street")]
        run_until_clips(monitor)
    text = caplog.text
    assert f"127.0.0.1:{port}" not in text and "street: camera up (file source" in text
    sample = monitor.metrics.registry.get_sample_value
    # Counted under the camera's own name, at the pace of the camera beside it reading the same file.
    street_frames = sample("vigil_frames_captured_total", {"camera": "street"}) or 0
    yard_frames = sample("vigil_frames_captured_total", {"camera": "yard"}) or 0
    assert street_frames >= 10 and abs(street_frames - yard_frames) <= 5, (street_frames, yard_frames)
    assert sample("vigil_frames_captured_total", {"camera": "street:substream"}) is None
    alerts, clips = read_log(tmp_path / "alerts")
    street_clips = [c for c in clips.values() if c["camera"] == "street"]
    assert street_clips and all(
        clip_size(tmp_path / "alerts" / c["clip"]) == (180, 320) for c in street_clips
    )


def test_a_camera_shown_alone_is_drawn_from_its_main_stream_and_analysed_from_its_substream(
    scenes, tiny_bundle, tmp_path
):
    main, sub = scenes
    cameras = [{"name": "street", "source": str(main), "substream": str(sub), "loop": True}]
    data = config_dict(tiny_bundle, cameras, tmp_path, alerts={"class_thresholds": {"shooting": 1.0}})
    monitor = build_monitor(parse_config(data), threading.Event())
    assert [(c.source, c.label) for c in monitor.captures] == [
        (str(main), "street"),
        (str(sub), "street:substream"),
    ]
    assert monitor.camera_names == ["street"]
    run_until_clips(monitor)
    sample = monitor.metrics.registry.get_sample_value
    assert monitor.compositor.latest()[1].shape == (360, 640, 3)  # the guard sees the main stream
    view = monitor.compositor.views["street"]
    shown = view.last[0]  # a main-stream frame: its map is the analysed frame's just before it
    earlier = [ts for ts in view.stamps if ts <= shown.ts]
    assert earlier and shown.ts - earlier[-1] < 0.5 and view.map_for(shown.ts) is view.maps[earlier[-1]]
    analysed = sample("vigil_frames_analysed_total", {"camera": "street"})
    captured_main = sample("vigil_frames_captured_total", {"camera": "street"})
    captured_sub = sample("vigil_frames_captured_total", {"camera": "street:substream"})
    assert captured_main > 2 * captured_sub > 0 and analysed <= captured_sub + 1
    alerts, clips = read_log(tmp_path / "alerts")
    assert alerts and clips
    snapshot = cv2.imread(str(tmp_path / "alerts" / alerts[0]["snapshot"]))
    assert snapshot.shape[:2] == (180, 320)  # the frames the model saw
    assert all(clip_size(tmp_path / "alerts" / c["clip"]) == (360, 640) for c in clips.values())


def test_a_substream_is_checked_like_a_source_and_its_password_never_shown(tiny_bundle, tmp_path, scenes):
    from streamer.config import ConfigError
    from streamer.preflight import check_cameras

    main, _ = scenes
    for substream, expected in [
        ("ftp://admin:hunter2@10.0.0.5/sub", "cameras[0].substream"),
        (
            "rtsp://admin:hun@ter2@10.0.0.5/sub",
            "cameras[0].substream: the user name or password holds reserved",
        ),
        (str(tmp_path / "missing.mp4"), "cameras[0].substream: expected an existing video file"),
    ]:
        data = config_dict(
            tiny_bundle, [{"name": "street", "source": str(main), "substream": substream}], tmp_path
        )
        with pytest.raises(ConfigError) as caught:
            check_cameras(parse_config(data))
        assert str(caught.value).startswith(expected) and "hunter2" not in str(caught.value)
        assert "ter2" not in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        parse_config(config_dict(tiny_bundle, [{"name": "s", "source": str(main), "substream": 5}], tmp_path))
    assert "cameras[0].substream" in str(caught.value)
