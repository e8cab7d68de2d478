"""`vigil explain`: every method on a real model, a case with a known answer, the report folder."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest

pytest.importorskip("tensorflow")

import keras  # noqa: E402

from evaluation import synth  # noqa: E402
from explain.methods import CAM_METHODS, GradCam  # noqa: E402
from explain.methods.video import frame_importance, temporal_smooth  # noqa: E402
from explain.windows import METHODS, PIXEL_METHODS, Explainer, compute_maps  # noqa: E402
from models.layers import Classifier, FramePreprocess  # noqa: E402
from streamer.inference.bundle import open_bundle  # noqa: E402
from tests.conftest import make_frames  # noqa: E402
from vigil.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A few short synthetic clips with ground truth (class-per-folder)."""
    root = tmp_path_factory.mktemp("explain-data")
    synth.make_dataset(root, 2, seed=3, spec=synth.ClipSpec(width=64, height=48, fps=10.0, seconds=1.6))
    return root


def test_every_method_gives_one_map_per_frame(tiny_bundle):
    explainer = Explainer.open(tiny_bundle)
    frames = make_frames(3, 32, 32, seed=5)
    activations = explainer.activations(frames)
    maps = compute_maps(explainer, frames, activations, target=1, methods=METHODS, smooth_samples=2)
    assert set(maps) == set(METHODS)
    for name, m in maps.items():
        expected = (3, 32, 32) if name in PIXEL_METHODS else activations.shape[:3]
        assert m.shape == expected, name
        assert np.isfinite(m).all() and (m >= 0).all(), name
        assert m.max() > 0, name


def test_gradcam_is_the_bundles_onnx_cam(tiny_bundle):
    """One definition of Grad-CAM in Vigil: the report's maps are the monitor's maps."""
    explainer = Explainer.open(tiny_bundle)
    bundle = open_bundle(tiny_bundle, providers=("cpu",))
    frames = make_frames(3, 32, 32, seed=6)
    activations = explainer.activations(frames)
    np.testing.assert_allclose(activations, bundle.backbone(frames), rtol=1e-4, atol=1e-5)
    for target in (0, 2):
        onnx = bundle.full(frames, target=target)
        ours = GradCam(explainer.head)(activations, target)
        scale = float(np.abs(onnx.weights[:, None, None, :] * onnx.activations).sum(axis=-1).max())
        np.testing.assert_allclose(ours, onnx.cam, rtol=0, atol=1e-4 * scale)


def test_a_max_pooling_bundle_carries_hirescam_and_explain_draws_it(tmp_path):
    from models.export import export_bundle
    from tests.conftest import tiny_model

    keras.utils.set_random_seed(2)
    directory = export_bundle(tiny_model(pooling="max", motion=True), tmp_path / "max")
    explainer = Explainer.open(directory)
    assert explainer.monitor_cam == "hirescam"
    frames = make_frames(3, 32, 32, seed=8)
    activations = explainer.activations(frames)
    onnx = open_bundle(directory, providers=("cpu",)).full(frames, target=1)
    ours = CAM_METHODS["hirescam"](explainer.head)(activations, 1)
    scale = float(np.abs(onnx.gradients * onnx.activations).sum(axis=-1).max())
    np.testing.assert_allclose(ours, onnx.cam, rtol=0, atol=1e-4 * scale)
    grad_cam = GradCam(explainer.head)(activations, 1)
    assert not np.allclose(grad_cam, ours, atol=1e-3 * scale)  # after max pooling they differ


def test_temporal_smoothing_keeps_a_constant_and_spreads_a_spike():
    constant = np.ones((5, 2, 2), np.float32)
    np.testing.assert_allclose(temporal_smooth(constant), constant, rtol=1e-6)
    spike = np.zeros((5, 1, 1), np.float32)
    spike[2] = 1.0
    smoothed = temporal_smooth(spike)[:, 0, 0]
    assert smoothed.argmax() == 2 and 0 < smoothed[1] < smoothed[2] < 1
    assert smoothed[1] == pytest.approx(smoothed[3])


# ---------------------------------------------------------------- a known answer

FRAMES, SIZE, KEY_FRAME = 4, 16, 2
SQUARES = [(1, 1), (9, 2), (4, 9), (10, 10)]  # (x, y) of a 4x4 bright square in each frame


def known_answer_model() -> Explainer:
    """Channel 0 fires on bright pixels only; the classifier reads it in frame KEY_FRAME only.
    So for class 1, the only thing that matters is frame KEY_FRAME's square."""
    frame = keras.Input((SIZE, SIZE, 3), dtype="uint8")
    x = FramePreprocess("unit")(frame)
    image = keras.Input((SIZE, SIZE, 3))
    conv = keras.layers.Conv2D(2, 1, activation="relu")
    net = keras.Model(image, conv(image))
    backbone = keras.Model(frame, net(x), name="backbone")
    conv.set_weights(
        [np.array([[[[1 / 3, 0.0]] * 3]], np.float32).reshape(1, 1, 3, 2), np.array([-0.2, 0.5], np.float32)]
    )  # channel 1: a constant, a distractor
    acts = keras.Input((FRAMES, SIZE, SIZE, 2))
    pooled = keras.layers.Flatten()(keras.layers.TimeDistributed(keras.layers.GlobalAveragePooling2D())(acts))
    classifier = Classifier(["normal", "event"], "normal", 5.0)
    head = keras.Model(acts, classifier(pooled))
    kernel = np.zeros((FRAMES * 2, 2), np.float32)
    kernel[KEY_FRAME * 2, 1], kernel[KEY_FRAME * 2, 0] = 4.0, -4.0
    classifier.set_weights([kernel, np.zeros(2, np.float32)])
    return Explainer("known", None, backbone, head)


def known_answer_frames() -> np.ndarray:
    frames = np.zeros((FRAMES, SIZE, SIZE, 3), np.uint8)
    for t, (x, y) in enumerate(SQUARES):
        frames[t, y : y + 4, x : x + 4] = 255
    return frames


def test_every_method_finds_the_one_region_of_the_one_frame_that_matters():
    explainer = known_answer_model()
    frames = known_answer_frames()
    activations = explainer.activations(frames)
    maps = compute_maps(explainer, frames, activations, target=1, methods=METHODS, smooth_samples=4)
    x, y = SQUARES[KEY_FRAME]
    for name, m in maps.items():
        t, py, px = np.unravel_index(int(np.argmax(m)), m.shape)
        assert t == KEY_FRAME, (name, t)
        assert x <= px < x + 4 and y <= py < y + 4, (name, px, py)
        if name != "gradcam-smoothed":  # smoothing in time spreads it on purpose
            others = np.delete(m, KEY_FRAME, axis=0)
            assert others.max() < 0.05 * m.max(), name
    weights = GradCam(explainer.head).channel_weights(activations, 1)
    importance = frame_importance(weights, activations)
    assert int(np.argmax(importance)) == KEY_FRAME
    assert np.abs(np.delete(importance, KEY_FRAME)).max() < 1e-6


def test_the_class_asked_changes_the_sign_of_the_evidence():
    """Explaining "normal" (which the square argues against) gives no positive evidence at all."""
    explainer = known_answer_model()
    frames = known_answer_frames()
    activations = explainer.activations(frames)
    for name in CAM_METHODS:
        assert compute_maps(explainer, frames, activations, 0, (name,))[name].max() == 0.0, name


# ---------------------------------------------------------------- the command and its report


def local_references(page: str) -> list[str]:
    return [r for r in re.findall(r"(?:href|src)='([^']+)'", page) if not r.startswith("data:")]


def test_report_folder_is_complete_and_self_consistent(tiny_bundle, clips, tmp_path):
    video = sorted((clips / "fight").glob("*.mp4"))[0]
    out = tmp_path / "report"
    assert (
        main(
            [
                "explain",
                str(tiny_bundle),
                str(video),
                "--out",
                str(out),
                "--all",
                "--smooth-samples",
                "2",
                "--compare",
                str(tiny_bundle),
            ]
        )
        == 0
    )
    page = (out / "report.html").read_text()
    refs = local_references(page)
    assert "explained.mp4" in refs and "explanation.json" in refs and "filters.png" in refs
    for ref in refs:
        assert (out / ref).is_file(), ref
    assert page.count("data:image/png;base64,") >= 4  # pictures inlined: one file to hand over
    data = json.loads((out / "explanation.json").read_text())
    windows = data["windows"]
    assert len(windows) >= 2 and [w["window"] for w in windows] == list(range(len(windows)))
    for w in windows:
        assert set(w["methods"]) == set(METHODS)
        assert len(w["frames"]) == 3 and len(w["frame_importance"]) == 3
        assert sum(w["probs"].values()) == pytest.approx(1.0, abs=1e-3)
        for m in w["methods"].values():
            assert len(m["peak_xy"]) == 3 and "pointing" in m  # the synthetic clip has boxes
        assert (out / f"window{w['window']:03d}_{w['explained_class']}_compare.png").is_file()
    movie = cv2.VideoCapture(str(out / "explained.mp4"))
    assert int(movie.get(cv2.CAP_PROP_FRAME_COUNT)) == 3 * len(windows)
    assert int(movie.get(cv2.CAP_PROP_FRAME_WIDTH)) == 64
    movie.release()


def test_asked_class_and_window(tiny_bundle, clips, tmp_path):
    video = sorted((clips / "shooting").glob("*.mp4"))[0]
    out = tmp_path / "one"
    assert (
        main(
            [
                "explain",
                str(tiny_bundle),
                str(video),
                "--out",
                str(out),
                "--window-index",
                "1",
                "--class",
                "fight",
                "--methods",
                "gradcam",
                "ablation",
            ]
        )
        == 0
    )
    data = json.loads((out / "explanation.json").read_text())
    assert [(w["window"], w["explained_class"]) for w in data["windows"]] == [(1, "fight")]
    assert set(data["windows"][0]["methods"]) == {"gradcam", "ablation"}


def test_compare_methods_prints_every_method_with_baselines(tiny_bundle, clips, tmp_path, capsys):
    assert (
        main(
            [
                "explain",
                str(tiny_bundle),
                str(clips),
                "--out",
                str(tmp_path),
                "--compare-methods",
                "--methods",
                "gradcam",
                "gradcam++",
                "saliency",
                "--limit",
                "1",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    for label in ("Grad-CAM ", "Grad-CAM++", "Saliency", "centre", "random"):
        assert label in printed
    table = json.loads((tmp_path / "methods.json").read_text())
    assert set(table) == {"gradcam", "gradcam++", "saliency"}
    assert all(row["frames"] > 0 and 0 <= row["pointing_game"] <= 1 for row in table.values())
    assert "deletion" in printed and "centre drop" in printed
    assert all(row["deletion"]["windows"] >= 2 and row["deletion"]["map_drop"] <= 1 for row in table.values())


@pytest.mark.parametrize(
    "case,message",
    [
        ("short", r"shorter than a window \(3 frames at 5 fps = 0.4 s; the clip has 0.3 s\)"),
        ("unreadable", r"cannot open video|unreadable video"),
        ("missing", r"no such video file"),
        ("no-keras", r"the bundle has no model.keras"),
        ("bad-window", r"--window-index 99: .* has windows 0\.\.\d+"),
        ("bad-class", r"class: expected one of \['normal', 'fight', 'shooting'\], got 'riot'"),
        ("bad-method", r"methods: expected some of .*, got \['lime'\]"),
    ],
)
def test_bad_input_gets_one_clear_line(tiny_bundle, clips, tmp_path, capsys, case, message):
    import shutil

    video, bundle, extra = sorted((clips / "normal").glob("*.mp4"))[0], tiny_bundle, []
    if case == "short":
        video = tmp_path / "short.mp4"
        synth.write_clip(
            video, synth.clip_frames(1, "normal", synth.ClipSpec(64, 48, 10.0, 0.3)), 10.0, "normal", (64, 48)
        )
    elif case == "unreadable":
        video = tmp_path / "broken.mp4"
        video.write_bytes(b"not a video at all" * 100)
    elif case == "missing":
        video = tmp_path / "nowhere.mp4"
    elif case == "no-keras":
        bundle = tmp_path / "bundle"
        shutil.copytree(tiny_bundle, bundle)
        (bundle / "model.keras").unlink()
    extra = {
        "bad-window": ["--window-index", "99"],
        "bad-class": ["--class", "riot"],
        "bad-method": ["--methods", "lime"],
    }.get(case, [])
    assert main(["explain", str(bundle), str(video), "--out", str(tmp_path / "out"), *extra]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vigil explain: "), err
    assert re.search(message, err[0]), err[0]


def write_lying_avi(path, frames: int = 60, keep: float = 0.5):
    """An MJPEG AVI whose header counts `frames` but whose stream ends after about `keep` of them,
    as some real AVI files do (a copy cut short; the container's header written first)."""
    import os

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for i in range(frames):
        writer.write(np.random.default_rng(i).integers(0, 256, (48, 64, 3), dtype=np.uint8))
    writer.release()
    with open(path, "r+b") as f:
        f.truncate(int(os.path.getsize(path) * keep))
    capture = cv2.VideoCapture(str(path))
    claimed, decoded = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0
    while capture.grab():
        decoded += 1
    capture.release()
    assert claimed == frames and decoded < frames * 0.7  # the header does lie
    return decoded


@pytest.mark.parametrize(
    "which", [["--all"], [], ["--start", "2.0"]], ids=["all", "most-suspicious", "start"]
)
def test_a_header_that_claims_more_frames_than_the_stream_holds(tiny_bundle, tmp_path, capsys, which):
    video = tmp_path / "lying.avi"
    decoded = write_lying_avi(video)
    out = tmp_path / "out"
    assert (
        main(["explain", str(tiny_bundle), str(video), "--out", str(out), "--methods", "gradcam", *which])
        == 0
    ), capsys.readouterr().err
    data = json.loads((out / "explanation.json").read_text())
    assert data["windows"] and all(max(w["frames"]) < decoded for w in data["windows"])
    capsys.readouterr()
    # A window past the real end is refused in one line, by what decodes, not by the header.
    assert main(["explain", str(tiny_bundle), str(video), "--out", str(out), "--start", "5.0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vigil explain: "), err


def test_the_report_opens_with_a_plain_answer_before_any_table(tiny_bundle, clips, tmp_path):
    video = sorted((clips / "fight").glob("*.mp4"))[0]
    out = tmp_path / "report"
    assert main(["explain", str(tiny_bundle), str(video), "--out", str(out), "--methods", "gradcam++"]) == 0
    page = (out / "report.html").read_text()
    first_answer, first_table = page.index("What Vigil decided"), page.index("<table")
    assert first_answer < first_table and first_answer < page.index("For engineers")
    said = json.loads((out / "explanation.json").read_text())["windows"][0]["answer"]
    assert said[0].startswith(f"Vigil judged this moment in {video.name} as ")
    assert "by the model's own probability" in said[0] and said[1].startswith("When: from ")
    assert any(s.startswith("Where: ") for s in said)
    picture = cv2.imread(str(next(out.glob("*_answer.png"))))
    assert picture is not None and picture.shape[1] >= 2 * 560  # two readable frames a row
    # The bundle's own map (Grad-CAM here) drew the answer although only Grad-CAM++ was asked for.
    assert "the bundle's own map (Grad-CAM)" in " ".join(said) or "no place stands out" in " ".join(said)
