"""The `vigil` command end to end: export a model, inspect the bundle on real video files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import FOOTAGE, REPO


def vigil(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "vigil", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def write_video(path: Path, frames: int, size=(96, 64), fps=25.0) -> Path:
    """A real MP4 of a bright square moving over a dark background."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    try:
        for i in range(frames):
            frame = np.full((size[1], size[0], 3), 30, np.uint8)
            x = (i * 3) % (size[0] - 16)
            frame[20:36, x : x + 16] = (40, 200, 240)
            writer.write(frame)
    finally:
        writer.release()
    return path


def write_junk(path: Path) -> Path:
    path.write_bytes(b"\0" * 1000)
    return path


def test_help_lists_subcommands():
    result = vigil("--help")
    assert result.returncode == 0
    for name in ("check-config", "export", "inspect"):
        assert name in result.stdout


def test_inspect_explains_a_window_of_a_real_video(tiny_bundle, tmp_path):
    # 3 frames at 5 fps from a 25 fps file: frames 0, 5, 10 are taken.
    video = write_video(tmp_path / "clip.mp4", frames=30)
    result = vigil("inspect", str(tiny_bundle), "--video", str(video), "--providers", "cpu")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(summary["probs"]) == {"normal", "fight", "shooting"}
    assert abs(sum(summary["probs"].values()) - 1) < 1e-3
    assert len(summary["cam_peak_per_frame"]) == 3
    assert summary["split_vs_full_max_abs_diff"] < 1e-3
    assert summary["provider"] == "cpu"


@pytest.mark.skipif(not FOOTAGE.exists(), reason="shared CCTV footage not present")
def test_inspect_on_real_cctv_footage(tiny_bundle):
    result = vigil("inspect", str(tiny_bundle), "--video", str(FOOTAGE), "--providers", "cpu")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["explained_class"] in ("normal", "fight", "shooting")


@pytest.mark.parametrize(
    "make,message",
    [
        (
            lambda d: write_video(d / "short.mp4", frames=6),
            r"short\.mp4: a window is 3 frames at 5 fps \(0\.4 s\); the clip has 0\.2 s",
        ),
        (lambda d: write_junk(d / "junk.mp4"), r"junk\.mp4: cannot open video"),
    ],
)
def test_inspect_bad_video_is_one_line(tiny_bundle, tmp_path, make, message):
    import re

    result = vigil("inspect", str(tiny_bundle), "--video", str(make(tmp_path)), "--providers", "cpu")
    assert result.returncode == 1
    assert re.search(message, result.stderr), result.stderr


def test_inspect_bad_bundle_is_one_line(tmp_path):
    result = vigil("inspect", str(tmp_path))
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f"vigil inspect: {tmp_path}/manifest.json: missing (not a Vigil bundle directory?)"
    )


def test_export_command_from_keras_file_and_new(tiny_bundle, tmp_path):
    pytest.importorskip("tensorflow")
    result = vigil("export", str(tiny_bundle / "model.keras"), "--out", str(tmp_path / "a"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a" / "model.keras").read_bytes() == (tiny_bundle / "model.keras").read_bytes()
    result = vigil(
        "export", "--new", "compact", "--frames", "2", "--size", "32", "--out", str(tmp_path / "b")
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["frames"] == 2 and manifest["verification"]["passed"]


def test_export_command_bad_model_file(tmp_path):
    pytest.importorskip("tensorflow")
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    result = vigil("export", str(tmp_path / "broken.keras"), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "broken.keras: cannot load as a Keras model" in result.stderr


def every_option():
    """(command, option) for every option of every subcommand, from the parser itself."""
    import argparse

    from vigil.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in [("vigil", parser), *commands.choices.items()]:
        for action in sub._actions:
            if not isinstance(
                action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)
            ):
                yield name, sub, action


@pytest.mark.parametrize(
    "command,parser,action", list(every_option()), ids=[f"{c}:{a.dest}" for c, _, a in every_option()]
)
def test_every_option_says_what_it_takes_and_its_default(command, parser, action):
    assert action.help and len(action.help) > 8, f"{command} {action.dest}: no help text"
    shown = parser.format_help().replace("\n", " ")
    if action.default not in (None, False) and not isinstance(action.default, bool):
        default = (
            " ".join(map(str, action.default)) if isinstance(action.default, list) else str(action.default)
        )
        assert f"default: {default}" in " ".join(shown.split()), f"{command} {action.dest}: default not shown"


NO_TENSORFLOW = """
import sys
sys.modules["tensorflow"] = sys.modules["tf2onnx"] = None    # what a runtime-only install has: neither
from vigil.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "args",
    [
        ["explain", "models/demo", "clip.mp4", "--out", "x"],
        ["train", "--data", "d", "--out", "o"],
        ["export", "--new", "compact", "--out", "o"],
    ],
    ids=lambda a: a[0],
)
def test_training_commands_on_the_runtime_install_say_what_to_install(args):
    result = subprocess.run(
        [sys.executable, "-c", NO_TENSORFLOW, *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line, result.stderr
    assert (
        line.startswith(f"vigil {args[0]}: needs the 'train' extra") and "pip install -e '.[train]'" in line
    )


def test_explain_with_a_model_that_will_not_load_is_one_line(tiny_bundle, tmp_path):
    """A bundle whose model.keras this version cannot read (newer, older, damaged) is named."""
    pytest.importorskip("tensorflow")
    import shutil

    bundle = shutil.copytree(tiny_bundle, tmp_path / "bundle")
    (bundle / "model.keras").write_bytes(b"not a zip")
    video = write_video(tmp_path / "clip.mp4", frames=30)
    result = vigil("explain", str(bundle), str(video), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("vigil explain: ") and "model.keras: cannot load as a Keras model" in last
    assert "Traceback" not in result.stderr
