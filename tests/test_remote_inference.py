"""Many monitors, one inference server: `vigil serve` runs the bundle on a real Triton server (PyPI's,
in its own environment), monitors send it their backbone batches and head windows over gRPC, and
their decisions are the ones local inference makes. A server killed mid-run is waited for, never
fatal."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from prometheus_client.exposition import generate_latest

from evaluation import synth
from streamer.config import ConfigError, parse_config
from streamer.inference.bundle import open_bundle
from streamer.inference.frames import to_model_input
from streamer.inference.remote import InferenceUnavailable, open_remote
from streamer.monitor import build_monitor
from streamer.preflight import check_startable
from testbed.rtsp import free_port
from testbed.triton import TritonServer, model_counter, triton_available
from tests.test_monitor import config_dict, wait_until

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "models" / "demo"
TOLERANCE = 1e-5

# Applied together: the marker selects (-m triton), the condition skips without the environment.
TRITON_MARKS = (
    pytest.mark.triton,
    pytest.mark.skipif(not triton_available(), reason="no Triton environment (make venv-triton)"),
)


def needs_triton(test):
    for mark in TRITON_MARKS:
        test = mark(test)
    return test


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("triton") / "serve.log"
    with TritonServer(DEMO, log, threads=1) as running:
        yield running


@pytest.fixture(scope="module")
def street(tmp_path_factory) -> Path:
    """A synthetic street at 10 fps: quiet, then a fight."""
    path = tmp_path_factory.mktemp("remote") / "street.mp4"
    synth.make_demo(path, seed=5, width=640, height=360, fps=10.0, timeline=(("normal", 2.0), ("fight", 6.0)))
    return path


@pytest.fixture(scope="module")
def local():
    return open_bundle(DEMO, ("cpu",))


def read_frames(path: Path, count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = [capture.read()[1] for _ in range(count)]
    capture.release()
    return frames


def monitor_config(tmp_path: Path, video: Path, url: str, name: str = "street", server_head: bool = True):
    tmp_path.mkdir(parents=True, exist_ok=True)
    data = config_dict(
        DEMO,
        [{"name": name, "source": str(video), "loop": True}],
        tmp_path,
        inference={"stride": 2, "server": url, "server_timeout_s": 2.0, "server_head": server_head},
        alerts={"threshold": 0.99},
    )
    return parse_config(data)


def sample(monitor, name: str, labels: dict | None = None) -> float:
    return monitor.metrics.registry.get_sample_value(name, labels or {}) or 0.0


def panel_text(picture: np.ndarray, folder: Path) -> str:
    """What Tesseract reads on the picture's panel: dark ink on light, twice the size (the panel's
    orange notice on black is otherwise lost to it)."""
    ink = cv2.resize(255 - picture.max(axis=2), None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    path = folder / "panel.png"
    cv2.imwrite(str(path), ink)
    done = subprocess.run(
        ["tesseract", str(path), "-", "--psm", "11"], capture_output=True, text=True, timeout=60
    )
    return done.stdout


def check_as_local(local, analysis) -> None:
    """The window's activations are the local backbone's on its frames, and its probabilities and
    map the local head's on them."""
    frames = np.stack([to_model_input(image, local.manifest.input_size) for image in analysis.images])
    np.testing.assert_allclose(analysis.activations, local.backbone(frames), atol=TOLERANCE, rtol=0)
    expected = local.head(analysis.activations, target=analysis.explained)
    np.testing.assert_allclose(analysis.probs, expected.probs, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(analysis.maps, expected.cam, atol=TOLERANCE, rtol=0)


@needs_triton
def test_the_server_answers_as_local_inference_does(server, local, street):
    remote = open_remote(DEMO, server.url, 5.0)
    assert remote.ready()
    frames = np.stack([to_model_input(f, local.manifest.input_size) for f in read_frames(street, 40)])
    acts = remote.backbone(frames)  # 40 frames: two requests of at most 32
    np.testing.assert_allclose(acts, local.backbone(frames), atol=TOLERANCE, rtol=0)
    for target in (None, 1, 2):
        got, want = remote.head(acts[-8:], target), local.head(acts[-8:], target)
        np.testing.assert_allclose(got.probs, want.probs, atol=TOLERANCE, rtol=0)
        np.testing.assert_allclose(got.cam, want.cam, atol=TOLERANCE, rtol=0)
        assert got.cam_class == want.cam_class
    with pytest.raises(ValueError, match="target class"):
        remote.head(acts[-8:], 3)


@needs_triton
def test_two_monitors_share_one_server_and_decide_as_local_inference_would(server, local, street, tmp_path):
    monitors = [
        build_monitor(monitor_config(tmp_path / name, street, server.url, name), threading.Event())
        for name in ("gate", "yard")
    ]
    seen: dict[str, list] = {"gate": [], "yard": []}
    for monitor in monitors:
        assert monitor.bundle.provider == f"server {server.url}"
        monitor.observe(lambda a: seen[a.camera].append(a))
    before = server.metrics()
    for monitor in monitors:
        monitor.start()
    try:
        wait_until(lambda: all(len(v) >= 6 for v in seen.values()), 60)
    finally:
        for monitor in monitors:
            monitor.shutdown()
    for analyses in seen.values():
        for analysis in analyses[:6]:
            check_as_local(local, analysis)
    # Triton's metrics beside Vigil's: the frames both monitors analysed all went through the server.
    analysed = sum(sample(m, "vigil_frames_analysed_total", {"camera": c}) for m, c in zip(monitors, seen))
    served = lambda: (
        model_counter(server.metrics(), "nv_inference_count", "vigil_backbone")
        - model_counter(before, "nv_inference_count", "vigil_backbone")
    )
    assert analysed >= 12
    wait_until(lambda: served() >= analysed, 10)  # Triton updates its metrics every 2 s
    for monitor in monitors:
        assert sample(monitor, "vigil_inference_up") == 1
        scraped = generate_latest(monitor.metrics.registry).decode()
        for text in (scraped, server.metrics()):
            lint = subprocess.run(
                ["promtool", "check", "metrics"], input=text, capture_output=True, text=True
            )
            assert "error" not in (lint.stdout + lint.stderr).lower(), lint.stderr


@needs_triton
def test_with_the_head_here_only_frames_go_to_the_server_and_decisions_are_the_same(
    server, local, street, tmp_path
):
    monitor = build_monitor(
        monitor_config(tmp_path, street, server.url, server_head=False), threading.Event()
    )
    assert monitor.bundle.provider == f"server {server.url} (head here)"
    decided = []
    monitor.observe(decided.append)
    before = server.metrics()
    monitor.start()
    try:
        wait_until(lambda: len(decided) >= 4, 60)
    finally:
        monitor.shutdown()
    for analysis in decided[:4]:
        check_as_local(local, analysis)
    wait_until(
        lambda: (
            model_counter(server.metrics(), "nv_inference_count", "vigil_backbone")
            > model_counter(before, "nv_inference_count", "vigil_backbone")
        ),
        10,
    )
    time.sleep(2.5)  # one more of Triton's metric updates: no head request may hide in it
    assert model_counter(server.metrics(), "nv_inference_count", "vigil_head") == model_counter(
        before, "nv_inference_count", "vigil_head"
    )


@needs_triton
def test_a_server_killed_mid_run_is_waited_for_and_analysis_resumes_when_it_returns(
    local, street, tmp_path, caplog
):
    server = TritonServer(DEMO, tmp_path / "serve.log", threads=1)
    server.start()
    caplog.set_level("INFO")
    reads_text = shutil.which("tesseract") is not None  # Debian's tesseract-ocr; .ci/run installs it
    monitor = build_monitor(monitor_config(tmp_path, street, server.url), threading.Event())
    decided = []
    monitor.observe(decided.append)
    drops = lambda: sample(
        monitor, "vigil_frames_dropped_total", {"camera": "street", "reason": "inference_down"}
    )
    monitor.start()
    try:
        wait_until(lambda: len(decided) >= 3, 60)
        assert sample(monitor, "vigil_inference_up") == 1
        server.kill()
        wait_until(lambda: sample(monitor, "vigil_inference_up") == 0, 15)
        wait_until(lambda: drops() >= 10, 15)  # 10 fps sampled: counted, not queued
        during = len(decided)
        time.sleep(1.0)
        assert monitor.worker.is_alive() and monitor.healthy()
        assert len(decided) == during  # no decision without a server
        if reads_text:  # the guard is told why the numbers stopped
            says = lambda: "inference server away" in panel_text(monitor.compositor.latest()[1], tmp_path)
            wait_until(says, 15, interval=0.5)
        server.start()
        wait_until(lambda: len(decided) >= during + 3, 60)  # backoff is at most 10 s
        assert sample(monitor, "vigil_inference_up") == 1
        if reads_text:
            wait_until(lambda: not says(), 15, interval=0.5)
    finally:
        monitor.shutdown()
        server.stop()
    for analysis in decided[during : during + 3]:
        check_as_local(local, analysis)
        # The first window after the outage holds no frame from before it.
        assert np.all(np.diff(analysis.stamps) < 0.5)
    said = [r.getMessage() for r in caplog.records if "inference server" in r.getMessage()]
    assert sum("unreachable" in line for line in said) == 1  # said once, however many retries
    assert sum("serving" in line for line in said) >= 2  # at start, and when it came back


@needs_triton
def test_a_monitor_starts_without_its_server_and_a_server_of_another_bundle_is_named(
    tiny_bundle, street, tmp_path, caplog
):
    down = f"grpc://127.0.0.1:{free_port()}"
    monitor = build_monitor(monitor_config(tmp_path, street, down), threading.Event())
    monitor.start()
    try:
        wait_until(
            lambda: (
                sample(
                    monitor, "vigil_frames_dropped_total", {"camera": "street", "reason": "inference_down"}
                )
                > 5
            ),
            20,
        )
        assert sample(monitor, "vigil_inference_up") == 0 and monitor.worker.is_alive()
    finally:
        monitor.shutdown()
    unreachable = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(unreachable) == 1  # said once, not at every retry

    with TritonServer(DEMO, tmp_path / "serve.log", threads=1) as server:
        other = open_remote(tiny_bundle, server.url, 2.0)
        assert not other.ready()
        with pytest.raises(InferenceUnavailable):
            other.backbone(np.zeros((1, *other.manifest.input_size, 3), np.uint8))
    assert any(
        "serves another bundle" in r.getMessage() and f"vigil serve {tiny_bundle}" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://127.0.0.1:8001", "expected a grpc://host:port URL"),
        ("grpc://127.0.0.1", "expected grpc://host:port, with both"),
        ("grpc://127.0.0.1:notaport", "expected a port number"),
        ("grpc://admin:s3cret@127.0.0.1:8001", "expected no user or password"),
        ("grpc://127.0.0.1:8001/models", "expected nothing after host:port"),
    ],
)
def test_a_wrong_server_url_is_one_line_naming_the_key_and_never_its_password(tmp_path, url, said):
    (tmp_path / "street.mp4").write_bytes(b"")
    data = config_dict(DEMO, [{"name": "street", "source": str(tmp_path / "street.mp4")}], tmp_path)
    data["inference"]["server"] = url
    with pytest.raises(ConfigError) as caught:
        check_startable(parse_config(data))
    message = str(caught.value)
    assert message.startswith("inference.server: ") and said in message and "\n" not in message
    assert "s3cret" not in message


def test_serve_without_the_triton_environment_says_how_to_make_it(tmp_path):
    env = {"VIGIL_TRITON_PYTHON": str(tmp_path / "no-python"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "vigil", "serve", str(DEMO)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].endswith("run `make venv-triton`")


@needs_triton
def test_serve_on_a_taken_port_is_one_line_naming_the_option():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "vigil", "serve", str(DEMO), f"--grpc-port={port}"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"vigil serve: --grpc-port: cannot listen on 127.0.0.1:{port} (Address already in use; "
        "another server running?): pick another port"
    )
