"""Frames kept as the camera's own packets: decoded again for a clip, they are the frames the camera
thread decoded, in any order asked, with B-frames, and never held without bound."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from evaluation import synth
from streamer.capture import packets
from streamer.capture.packets import KeptDecoder, PacketKeeper, StreamFormat
from streamer.capture.readers import open_pyav
from streamer.capture.sources import open_source
from streamer.config import CaptureConfig
from tests.conftest import FOOTAGE, REAL_FIGHTS


def encode_h264(path, frames: int = 60, gop: int = 12, bframes: int = 2, size=(320, 240)) -> None:
    """An H.264 file as cameras send it (keyframe every `gop`), with B-frames: packets arrive in
    decode order, frames come out in presentation order."""
    rng = np.random.default_rng(0)
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"g": str(gop), "bf": str(bframes), "preset": "ultrafast", "sc_threshold": "0"}
        if bframes == 0:
            stream.options |= {"tune": "zerolatency"}
        base = cv2.resize(rng.integers(0, 256, (60, 80, 3), np.uint8), (width, height))
        for i in range(frames):
            image = np.roll(base, 4 * i, axis=1)  # motion, so that P and B frames carry something
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def read_all(path):
    reader = open_pyav(str(path), {}, 5.0, 5.0)
    assert reader is not None
    decoded = []
    while (item := reader.read()) is not None:
        decoded.append(item)
    reader.release()
    return decoded


@pytest.mark.parametrize("bframes", [0, 2])
def test_kept_packets_decode_to_the_very_frames_the_camera_thread_saw(tmp_path, bframes):
    path = tmp_path / "camera.mp4"
    encode_h264(path, bframes=bframes)
    decoded = read_all(path)
    assert len(decoded) == 60 and all(kept is not None for _, kept in decoded)
    assert len({id(kept.group) for _, kept in decoded}) == 5  # one group per keyframe
    decoder = KeptDecoder()
    for image, kept in decoded[7:40]:  # a clip's pre-roll starts mid-group
        assert np.array_equal(decoder.picture(kept), image)


def test_a_4k_stream_decoded_on_several_threads_keeps_its_frames_in_their_groups(tmp_path):
    """Past 1080p the decoder spreads a frame over threads and gives frames a few packets late:
    each frame is still matched to the group it belongs to."""
    path = tmp_path / "4k.mp4"
    encode_h264(path, frames=16, gop=4, bframes=0, size=(3840, 2160))
    decoded = read_all(path)
    assert len(decoded) == 16 and decoded[0][0].shape == (2160, 3840, 3)
    decoder = KeptDecoder()
    assert all(np.array_equal(decoder.picture(kept), image) for image, kept in decoded)


def test_frames_asked_out_of_order_or_skipped_still_come_right(tmp_path):
    path = tmp_path / "camera.mp4"
    encode_h264(path)
    decoded = read_all(path)
    decoder = KeptDecoder()
    for i in [30, 31, 35, 5, 6, 59, 40]:  # the display skipped some; another clip went back
        image, kept = decoded[i]
        assert np.array_equal(decoder.picture(kept), image), i


def test_a_group_too_large_is_not_held_and_frames_fall_back_until_the_next_keyframe(monkeypatch):
    monkeypatch.setattr(packets, "MAX_GOP_BYTES", 1000)
    keeper = PacketKeeper(StreamFormat("h264", None, 320, 240))
    assert keeper.frame(0) is None  # before the first keyframe: nothing to decode from
    keeper.packet(b"k" * 600, 0, keyframe=True)
    assert keeper.frame(0) is not None
    keeper.packet(b"p" * 600, 1, keyframe=False)  # past the bound: the group is let go
    assert keeper.frame(1) is None
    keeper.packet(b"p" * 10, 2, keyframe=False)
    assert keeper.frame(2) is None
    keeper.packet(b"k" * 10, 3, keyframe=True)
    assert keeper.frame(3).index == 0


def test_pyav_and_opencv_readers_see_the_same_picture(tmp_path):
    video = tmp_path / "scene.mp4"
    synth.make_demo(video, seed=5, width=320, height=180, fps=10.0, timeline=(("normal", 1.0),))
    pyav = open_source(str(video), CaptureConfig())
    opencv = open_source(str(video), CaptureConfig(reader="opencv"))
    assert pyav.keeps_packets and not opencv.keeps_packets and pyav.fps == opencv.fps == 10.0
    assert pyav.decoding == "software (PyAV)" and opencv.decoding == "software"
    for _ in range(10):
        (a, kept), (b, none) = pyav.reader.read(), opencv.reader.read()
        assert kept is not None and none is None
        assert np.abs(a.astype(int) - b).mean() < 2.0  # colour conversion rounding only
    pyav.reader.release()
    opencv.reader.release()


@pytest.mark.parametrize(("fourcc", "suffix"), [("MJPG", ".avi"), ("mp4v", ".mp4")])
def test_colours_come_out_as_sent_whatever_the_range_of_the_stream(tmp_path, fourcc, suffix):
    """JPEG frames are full-range YUV, H.264 and MPEG-4 video-range: a flat colour stays that colour."""
    path = tmp_path / f"flat{suffix}"
    colour = (200, 30, 90)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, (160, 120))
    for _ in range(5):
        writer.write(np.full((120, 160, 3), colour, np.uint8))
    writer.release()
    opened = open_source(str(path), CaptureConfig())
    image, _ = opened.reader.read()
    opened.reader.release()
    assert np.abs(image[40:80, 40:120].reshape(-1, 3).mean(axis=0) - colour).max() < 4


def test_a_file_of_random_bytes_does_not_open_and_says_so_without_ffmpeg_words(tmp_path):
    broken = tmp_path / "random.mp4"
    broken.write_bytes(np.random.default_rng(1).integers(0, 256, 100_000, dtype=np.uint8).tobytes())
    with pytest.raises(OSError, match="cannot open file source: not a readable video"):
        open_source(str(broken), CaptureConfig())


def test_a_stream_of_undecodable_packets_ends_instead_of_reading_forever(tmp_path, monkeypatch):
    """A file FFmpeg can demux whose packets are garbage: the reader gives up after a bound."""
    path = tmp_path / "camera.mp4"
    encode_h264(path, frames=30, bframes=0)
    data = bytearray(path.read_bytes())
    # Overwrite the frames' data (mdat) with noise, leaving the container intact.
    start = data.find(b"mdat") + 4
    data[start + 64 : start + 64 + 6000] = np.random.default_rng(2).integers(0, 256, 6000, np.uint8).tobytes()
    path.write_bytes(bytes(data))
    monkeypatch.setattr("streamer.capture.readers.MAX_BAD_PACKETS", 3)
    decoded = read_all(path)  # returns: the run would end or skip, never hang
    assert len(decoded) <= 30


@pytest.mark.skipif(
    not REAL_FIGHTS.is_dir(), reason="the shared real surveillance clips are not beside the checkout"
)
def test_real_surveillance_clips_read_alike_by_pyav_and_opencv_and_decode_again_from_their_packets():
    """197 clips cut from a few dozen real CCTV videos (codecs, sizes and rates of the real world) and
    the shared pedestrian footage: the same frames and rate as OpenCV reads, every frame with its
    packets, and the packets decode again to the frame shown."""
    paths = sorted(REAL_FIGHTS.glob("*/*.mp4")) + ([FOOTAGE] if FOOTAGE.exists() else [])
    assert len(paths) > 100
    for path in paths:
        pyav = open_source(str(path), CaptureConfig())
        opencv = open_source(str(path), CaptureConfig(reader="opencv"))
        ours = []
        while (item := pyav.reader.read()) is not None:
            ours.append(item)
        theirs = []
        while (item := opencv.reader.read()) is not None:
            theirs.append(item[0])
        pyav.reader.release()
        opencv.reader.release()
        assert len(ours) == len(theirs) > 0 and pyav.fps == opencv.fps, path.name
        assert max(np.abs(a.astype(np.int16) - b).mean() for (a, _), b in zip(ours, theirs)) < 3, path.name
        assert all(kept is not None for _, kept in ours), path.name
        decoder = KeptDecoder()
        assert all(np.array_equal(decoder.picture(kept), image) for image, kept in ours[-10:]), path.name
