"""`vigil check-config` refuses exactly what `vigil run` refuses at start, with the same one line:
a missing bundle, no enabled camera, a camera file that is not there, an unknown URL scheme, a
password with unencoded reserved characters, an output folder that does not exist; a taken metrics
port is named with its key."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from streamer.preflight import unencoded_in_userinfo
from testbed.rtsp import free_port
from tests.conftest import REPO
from tests.test_monitor import config_dict, to_toml

SECRET = "s3cr@t#1"


def vigil(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "vigil", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


CASES = [
    (
        "bundle",
        lambda d, tmp: d["model"].update(bundle=str(tmp / "nope")),
        r"model\.bundle: expected a bundle directory, got '.*nope' \(no such directory\)",
    ),
    (
        "no-camera",
        lambda d, tmp: d["cameras"][0].update(enabled=False),
        r"cameras: expected at least one enabled camera, got none",
    ),
    (
        "camera-file",
        lambda d, tmp: d["cameras"][0].update(source="missing.mp4"),
        r"cameras\[0\]\.source: expected an existing video file, got '.*missing\.mp4' \(no such file\)",
    ),
    (
        "scheme",
        lambda d, tmp: d["cameras"][0].update(source="rstp://10.0.0.5/live"),
        r"cameras\[0\]\.source: unknown scheme 'rstp://' \(expected one of rtsp://, rtsps://, http://, https://",
    ),
    (
        "reserved",
        lambda d, tmp: d["cameras"][0].update(source=f"rtsp://admin:{SECRET}@10.0.0.5/live"),
        r"cameras\[0\]\.source: the user name or password holds reserved characters: percent-encode them "
        r"\('#' as %23, '@' as %40\)",
    ),
    (
        "output",
        lambda d, tmp: d["overlay"].update(output_video=str(tmp / "no-such-folder" / "out.mp4")),
        r"overlay\.output_video: the folder for the annotated video does not exist: '.*no-such-folder'",
    ),
    (
        "env",
        lambda d, tmp: d["cameras"][0].update(source="rtsp://admin:{VIGIL_NOT_SET}@10.0.0.5/live"),
        r"cameras\[0\]\.source: environment variable VIGIL_NOT_SET is not set",
    ),
    (
        "thresholds",
        lambda d, tmp: d["alerts"].update(class_thresholds={"robbery": 0.5}),
        r"alerts\.class_thresholds: expected classes of the bundle \['normal', 'fight', 'shooting'\], "
        r"got \['robbery'\]",
    ),
]


@pytest.mark.parametrize("name,damage,message", CASES, ids=[c[0] for c in CASES])
def test_check_config_and_run_refuse_the_same_config_with_the_same_line(
    tiny_bundle, tmp_path, name, damage, message
):
    import re

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")  # exists: only its existence is checked at start
    data = config_dict(tiny_bundle, [{"name": "yard", "source": str(clip)}], tmp_path)
    damage(data, tmp_path)
    path = tmp_path / "config.toml"
    path.write_text(to_toml(data))
    checked, ran = vigil("check-config", str(path)), vigil("run", "--config", str(path))
    assert checked.returncode == ran.returncode == 1, (checked.stderr, ran.stderr)
    line = checked.stderr.strip()
    assert "\n" not in line and line == ran.stderr.strip(), (line, ran.stderr)
    assert re.fullmatch(rf"vigil: config error: {re.escape(str(path))}: {message}.*", line), line
    assert SECRET not in line and "admin" not in line


def test_a_good_config_passes_both(tiny_bundle, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")
    data = config_dict(
        tiny_bundle, [{"name": "yard", "source": "clip.mp4"}], tmp_path
    )  # relative: config's folder
    (tmp_path / "config.toml").write_text(to_toml(data))
    checked = vigil("check-config", str(tmp_path / "config.toml"))
    assert checked.returncode == 0 and "OK (1 camera(s) enabled" in checked.stdout, checked.stderr


def test_a_damaged_bundle_is_refused_by_check_config(bundle_copy, tmp_path):
    (bundle_copy / "head.onnx").write_bytes(b"not a model")
    data = config_dict(bundle_copy, [{"name": "yard", "source": "0"}], tmp_path)
    (tmp_path / "config.toml").write_text(to_toml(data))
    checked = vigil("check-config", str(tmp_path / "config.toml"))
    assert (
        checked.returncode == 1
        and "model.bundle: " in checked.stderr
        and "head.onnx: sha256 mismatch" in checked.stderr
    )


def test_a_taken_metrics_port_names_the_key(tiny_bundle, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")
    port = free_port()
    data = config_dict(tiny_bundle, [{"name": "yard", "source": str(clip)}], tmp_path, metrics={"port": port})
    path = tmp_path / "config.toml"
    path.write_text(to_toml(data))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        ran = vigil("run", "--config", str(path))
    assert ran.returncode == 1
    assert (
        f"vigil: config error: {path}: metrics.port: cannot listen on 127.0.0.1:{port} "
        "(Address already in use; "
        "another monitor running?)"
    ) in ran.stderr, ran.stderr
    assert "Traceback" not in ran.stderr and "Errno" not in ran.stderr


@pytest.mark.parametrize(
    "url,reserved",
    [
        ("rtsp://admin:p@ss#1@10.0.0.5/live", ["#", "@"]),
        ("rtsp://admin:pa/ss@10.0.0.5/live", ["/"]),
        ("rtsp://admin:p%40ss%231@10.0.0.5/live", []),  # percent-encoded: fine
        ("rtsp://10.0.0.5:554/live@main", []),  # an '@' in the path, no credentials
        ("rtsp://cam/live/stream@2", []),
        ("http://user:pw@cam/mjpeg", []),
        ("footage/clip.mp4", []),
    ],
)
def test_unencoded_reserved_characters_in_credentials(url, reserved):
    assert unencoded_in_userinfo(url) == reserved


def test_check_config_names_the_alert_sinks_it_will_deliver_to(tiny_bundle, tmp_path):
    (tmp_path / "clip.mp4").write_bytes(b"")
    hooks = [
        {"name": "pager", "url": "https://hooks.example/v", "secret": "k"},
        {"name": "old", "url": "https://hooks.example/o", "secret": "k", "enabled": False},
    ]
    data = config_dict(
        tiny_bundle,
        [{"name": "yard", "source": "clip.mp4"}],
        tmp_path,
        sinks={"mqtt": {"enabled": True}, "webhooks": hooks},
    )
    (tmp_path / "config.toml").write_text(to_toml(data))
    checked = vigil("check-config", str(tmp_path / "config.toml"))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip().endswith("alert sinks: mqtt, pager)")
