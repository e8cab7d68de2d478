"""Why a camera would not open, said once in Vigil's words, found by asking real servers on
127.0.0.1: a closed port, a silent one, a name that does not resolve, an RTSP server that wants a
password (Basic and Digest, GStreamer's) or has no such stream, an HTTP camera that answers 401 or
404. And the URL's password, reserved characters and all, never printed."""

from __future__ import annotations

import http.server
import signal
import socket
import threading
from pathlib import Path
from urllib.parse import quote

import pytest

from evaluation import synth
from streamer.capture.diagnose import diagnose, parse_endpoint
from testbed.rtsp import RtspServer, free_port, gst_rtsp_available
from tests.test_monitor import config_dict, run_vigil, scrape, wait_until

PASSWORD = "p@ss#1/x?"  # every character that breaks an unencoded URL


@pytest.fixture(scope="module")
def feed(tmp_path_factory) -> Path:
    clip = tmp_path_factory.mktemp("feed") / "feed.mp4"
    synth.make_demo(clip, seed=5, width=320, height=180, fps=10.0, timeline=(("normal", 6.0),))
    return clip


@pytest.fixture(scope="module", params=["basic", "digest"])
def guarded(request, feed):
    """A real RTSP server that serves /cam only to admin with PASSWORD."""
    if not gst_rtsp_available():
        pytest.skip(
            "needs ffmpeg and GStreamer's RTSP server (Debian gir1.2-gst-rtsp-server-1.0, python3-gi)"
        )
    server = RtspServer(feed, credentials=("admin", PASSWORD), auth=request.param)
    server.start()
    yield server
    server.kill()


def with_password(server: RtspServer, password: str, path: str = "/cam") -> str:
    return f"rtsp://admin:{quote(password, safe='')}@127.0.0.1:{server.port}{path}"


@pytest.mark.rtsp
def test_rtsp_server_answers_are_named(guarded):
    assert diagnose(with_password(guarded, "wrong"), 3) == "401 Unauthorized: wrong user name or password"
    assert diagnose(guarded.url, 3) == "401 Unauthorized: the camera wants a user name and password"
    assert (
        diagnose(with_password(guarded, PASSWORD, "/nothing"), 3) == "404 Not Found: no stream at that path"
    )
    assert diagnose(with_password(guarded, PASSWORD), 3).startswith("the server answered 200 OK")


def test_a_closed_port_a_silent_one_and_an_unknown_host():
    port = free_port()
    assert (
        diagnose(f"rtsp://127.0.0.1:{port}/live", 2)
        == f"connection refused by 127.0.0.1:{port} (nothing listening on that port?)"
    )
    with socket.socket() as silent:  # accepts (the kernel does) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        assert diagnose(f"rtsp://127.0.0.1:{port}/live", 1) == f"no answer from 127.0.0.1:{port} within 1 s"
    assert diagnose("rtsp://camera.invalid/live", 2) == "cannot resolve host name 'camera.invalid'"


class Camera(http.server.BaseHTTPRequestHandler):
    """An MJPEG camera's web server that wants Basic auth admin:PASSWORD and has only /video."""

    def do_GET(self):
        import base64

        wanted = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != wanted:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="cam"')
        else:
            self.send_response(200 if self.path == "/video" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_an_http_camera_401_and_404():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Camera)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        assert (
            diagnose(f"http://admin:wrong@127.0.0.1:{port}/video", 2)
            == "401 Unauthorized: wrong user name or password"
        )
        good = quote(PASSWORD, safe="")
        assert (
            diagnose(f"http://admin:{good}@127.0.0.1:{port}/other", 2)
            == "404 Not Found: no stream at that path"
        )
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    "url,host,port,user,password,uri",
    [
        (
            "rtsp://admin:p%40ss%231@cam:8554/live?x=1",
            "cam",
            8554,
            "admin",
            "p@ss#1",
            "rtsp://cam:8554/live?x=1",
        ),
        ("rtsp://admin:p@ss#1@10.0.0.5/live", "10.0.0.5", 554, "admin", "p@ss#1", "rtsp://10.0.0.5:554/live"),
        ("http://[::1]:8080/mjpeg", "::1", 8080, None, None, "http://[::1]:8080/mjpeg"),
        ("https://cam", "cam", 443, None, None, "https://cam:443/"),
    ],
)
def test_urls_are_taken_apart_as_the_redaction_sees_them(url, host, port, user, password, uri):
    endpoint = parse_endpoint(url)
    assert (endpoint.host, endpoint.port, endpoint.user, endpoint.password, endpoint.request_uri) == (
        host,
        port,
        user,
        password,
        uri,
    )


@pytest.mark.rtsp
def test_the_monitor_says_why_once_and_never_prints_the_password(tiny_bundle, guarded, tmp_path):
    """A wrong password: one line with the reason, no FFmpeg or OpenCV lines. The right one, from
    the environment (percent-encoded by Vigil) or percent-encoded in the file: frames flow."""
    cameras = [
        {"name": "gate", "source": with_password(guarded, "wr@ng#pass")},
        {"name": "door", "source": f"rtsp://admin:{{VIGIL_DOOR_PASSWORD}}@127.0.0.1:{guarded.port}/cam"},
        {"name": "yard", "source": with_password(guarded, PASSWORD)},
    ]
    config = config_dict(tiny_bundle, cameras, tmp_path)
    proc = run_vigil(config, tmp_path, env={"VIGIL_DOOR_PASSWORD": PASSWORD})
    try:
        port = config["metrics"]["port"]
        metrics = ""

        def both_up() -> bool:
            nonlocal metrics
            metrics = scrape(port)
            return (
                'vigil_camera_up{camera="door"} 1.0' in metrics
                and 'vigil_camera_up{camera="yard"} 1.0' in metrics
            )

        wait_until(both_up, timeout=40, interval=0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=10)
    assert output.count("gate: camera down") == 1, output
    assert (
        "gate: camera down (rtsp://***@127.0.0.1" in output
        and "401 Unauthorized: wrong user name or password" in output
    )
    assert "[rtsp @" not in output and "[ WARN" not in output  # FFmpeg's and OpenCV's own lines
    for secret in (PASSWORD, quote(PASSWORD, safe=""), "wr@ng#pass", "admin", "ss#1", "p@ss"):
        assert secret not in output and secret not in metrics
    for path in (tmp_path / "alerts").rglob("*"):
        if path.suffix == ".jsonl":
            assert "admin" not in path.read_text()
