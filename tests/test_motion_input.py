"""Motion-coded input: a bundle that sees each frame with its change since the previous sampled
frame gets the same input from the trainer, the evaluator, the explainer, INT8 calibration and the
monitor, and its manifest says so."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from evaluation import synth
from evaluation.dataset import index_dataset, read_frames
from streamer.capture.ring import FrameRing
from streamer.config import InferenceConfig
from streamer.inference.bundle import BundleError, Manifest, open_bundle
from streamer.inference.frames import ModelInput, motion_coded, to_model_input
from streamer.inference.worker import InferenceWorker
from streamer.metrics import build_metrics
from streamer.types import Frame
from tests.conftest import make_frames, tiny_model

SPEC = synth.ClipSpec(width=64, height=48, fps=10.0, seconds=2.0)


@pytest.fixture(scope="module")
def motion_bundle(tmp_path_factory):
    """A tiny convRNN trained on nothing, exported with the motion coding."""
    pytest.importorskip("tensorflow")
    import keras

    from models.export import export_bundle

    keras.utils.set_random_seed(2)
    return export_bundle(tiny_model(input_coding="motion"), tmp_path_factory.mktemp("motion") / "bundle")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    synth.make_dataset(root, 1, seed=0, spec=SPEC)
    return root


def coded(frame: np.ndarray, before: np.ndarray | None, size=(32, 32)) -> np.ndarray:
    """The motion coding written out by hand, for the tests to compare against."""
    now = cv2.cvtColor(to_model_input(frame, size), cv2.COLOR_BGR2GRAY).astype(int)
    prev = (
        now if before is None else cv2.cvtColor(to_model_input(before, size), cv2.COLOR_BGR2GRAY).astype(int)
    )
    return np.dstack([now, np.clip(128 + 2 * (now - prev), 0, 255), prev]).astype(np.uint8)


def test_the_coding_is_grey_change_and_grey_before():
    now = np.full((4, 4, 3), 100, np.uint8)
    before = np.full((4, 4, 3), 90, np.uint8)
    now[0, 0] = 255
    out = motion_coded(now, before)
    assert out.dtype == np.uint8 and out.shape == (4, 4, 3)
    assert (out[1:, 1:, 0] == 100).all() and (out[1:, 1:, 2] == 90).all()
    assert (out[1:, 1:, 1] == 148).all()  # 128 + 2 x 10
    assert out[0, 0, 1] == 255  # clipped, not wrapped round
    still = ModelInput((4, 4), "motion").encode_frame(now, None)
    assert (still[..., 1] == 128).all()  # no predecessor yet: nothing moved


def test_sources_name_each_frame_then_its_predecessor():
    motion = ModelInput((8, 8), "motion", sample_fps=10.0)
    assert motion.previous(30, 30.0) == 27 and motion.previous(7, 25.0) == 5
    assert motion.previous(1, 30.0) == 0 and motion.previous(0, 30.0) == 0
    assert motion.sources([3, 6], 30.0) == [3, 6, 0, 3]
    assert ModelInput((8, 8), "bgr", 10.0).sources([3, 6], 30.0) == [3, 6]
    with pytest.raises(ValueError, match="input: expected one of"):
        ModelInput((8, 8), "rgb")


def test_manifest_input_defaults_to_bgr_and_refuses_unknown(tiny_bundle):
    data = json.loads((tiny_bundle / "manifest.json").read_text())
    assert data["input"] == "bgr"
    del data["input"]  # a bundle from before the field
    assert Manifest.from_dict(data).model_input.coding == "bgr"
    with pytest.raises(BundleError, match="input: expected one of"):
        Manifest.from_dict({**data, "input": "thermal"})


def test_export_records_the_coding_the_model_was_built_with(motion_bundle):
    bundle = open_bundle(motion_bundle, providers=("cpu",))
    assert bundle.manifest.model_input.uses_motion
    from models.convrnn import classifier_of
    from models.export import load_model

    assert classifier_of(load_model(motion_bundle / "model.keras")).input_coding == "motion"


def test_the_monitor_pairs_each_sampled_frame_with_the_previous_one(motion_bundle):
    bundle = open_bundle(motion_bundle, providers=("cpu",))
    images = make_frames(10, 48, 64, seed=5)
    cameras = {
        # 10 fps, then the camera away for 4 s, then 5 fps
        "door": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 5.0, 5.2, 5.4],
        # a 2 fps camera, slower than the model's 5 fps: each frame follows its previous one
        "yard": [0.5 * i for i in range(10)],
    }
    before = {
        "door": {0: None, 2: 0, 4: 2, 6: 4, 7: None, 8: 7, 9: 8},  # 5 fps of 10; none across the gap
        "yard": {0: None, **{i: i - 1 for i in range(1, 10)}},
    }
    rings, analyses = {name: FrameRing(64) for name in cameras}, []
    worker = InferenceWorker(
        InferenceConfig(stride=1, backbone_batch=4),
        bundle,
        rings,
        threading.Event(),
        analyses.append,
        build_metrics(),
    )
    for i in range(10):
        for name, stamps in cameras.items():
            rings[name].put(Frame(name, i, stamps[i], images[i]))
        worker._collect()
        while any(worker.pending.values()):
            worker.step()
    for name in cameras:
        mine = [a for a in analyses if a.camera == name]
        assert {s for a in mine for s in a.seqs} == set(before[name])
        for a in mine:
            pairs = [
                (images[s], None if before[name][s] is None else images[before[name][s]]) for s in a.seqs
            ]
            inputs = np.stack([coded(now, prev) for now, prev in pairs])
            np.testing.assert_allclose(a.activations, bundle.backbone(inputs), atol=1e-5)


def test_training_windows_are_coded_with_the_clip_predecessors(clips):
    pytest.importorskip("tensorflow")
    from models.training.data import WindowSpec, iter_windows

    clip = index_dataset(clips).clips[1]
    spec = WindowSpec(3, (32, 32), 5.0, 0.5, "motion")
    windows = list(iter_windows([clip], spec, rng=None, windows_per_clip=None))
    assert len(windows) > 1
    frames = read_frames(clip.path, set(range(clip.frames)), size=None)
    from evaluation.dataset import clip_windows

    for (pixels, label), window in zip(windows, clip_windows(clip, 3, 5.0, 0.5), strict=True):
        assert label == clip.label
        expected = [coded(frames[f], frames[max(0, f - 2)]) for f in window]  # 10 fps clip, 5 fps model
        assert np.array_equal(pixels, np.stack(expected))


def test_evaluate_and_explain_score_the_coded_window(motion_bundle, clips):
    pytest.importorskip("tensorflow")
    from evaluation.dataset import clip_windows
    from evaluation.evaluate import Tallies, evaluate_clip
    from explain.windows import Explainer, decode_windows, explain_window

    bundle = open_bundle(motion_bundle, providers=("cpu",))
    clip = next(c for c in index_dataset(clips).clips if c.label == 1)
    probs = evaluate_clip(bundle, clip, 0.5, 4, 0, Tallies(), deletion_windows=1)
    windows = clip_windows(clip, 3, 5.0, 0.5)
    frames = read_frames(clip.path, set(range(clip.frames)), size=None)
    inputs = [np.stack([coded(frames[f], frames[max(0, f - 2)]) for f in w]) for w in windows]
    expected = np.stack([bundle.full(x).probs for x in inputs])
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    # the explainer (Keras, offline) sees the same input as the monitor's ONNX graphs
    explainer = Explainer.open(motion_bundle)
    window, images = next(decode_windows(explainer, clip, [windows[1]]))
    result = explain_window(explainer, 1, window, images, clip, None, ("gradcam",))
    np.testing.assert_allclose(result.probs, expected[1], atol=1e-4)
    assert len(result.images) == 3 and len(result.sources) == 6


def test_int8_calibration_sees_coded_frames(motion_bundle, clips):
    from models.quantize import footage_windows

    manifest = open_bundle(motion_bundle, providers=("cpu",)).manifest
    windows = footage_windows(clips / "fight", manifest.frames, manifest.model_input)
    assert windows
    # a moving scene: the change channel is not flat, and channels 0 and 2 are grey frames
    assert any((w[..., 1] != 128).any() for w in windows)
    first = windows[0]
    assert not np.array_equal(first[..., 0], first[..., 1])


def test_vigil_explain_on_a_motion_bundle_says_what_the_model_sees(motion_bundle, clips, tmp_path):
    pytest.importorskip("tensorflow")
    from explain.job import ExplainOptions, run_explain

    video = sorted((clips / "fight").glob("*.mp4"))[0]
    done = run_explain(
        ExplainOptions(
            str(motion_bundle), str(video), str(tmp_path / "out"), methods=("gradcam",), maximised=0
        )
    )
    page = Path(done["report"]).read_text()
    assert done["windows"] == 1 and "change since the previous sampled frame (0.2 s before)" in page
    for name in done["files"]:
        assert (tmp_path / "out" / name).is_file()


def test_a_backbone_is_not_taken_from_a_model_trained_on_the_other_coding(tmp_path):
    pytest.importorskip("tensorflow")
    from models.training.train import TrainError, copy_backbone

    colour = tmp_path / "colour.keras"
    tiny_model().save(colour)
    with pytest.raises(
        TrainError, match=r"trained on 'bgr' input, this run's is 'motion' \(add --input bgr\)"
    ):
        copy_backbone(str(colour), tiny_model(input_coding="motion"))
    copy_backbone(str(colour), tiny_model())  # the same coding: taken
