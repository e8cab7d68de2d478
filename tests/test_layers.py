"""Preprocessing inside the graph equals what each backbone was trained with, from OpenCV's BGR."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from models.layers import FrameMotion, FramePreprocess, ReflectPad2D  # noqa: E402
from tests.conftest import make_frames  # noqa: E402


@pytest.mark.parametrize(
    "mode,reference",
    [
        ("caffe", keras.applications.vgg19.preprocess_input),
        ("tf", keras.applications.mobilenet_v2.preprocess_input),
    ],
)
def test_preprocess_matches_keras_applications(mode, reference):
    bgr = make_frames(2, 8, 8)
    rgb = bgr[..., ::-1].astype(np.float32)  # keras.applications expects RGB
    np.testing.assert_allclose(
        np.asarray(FramePreprocess(mode)(bgr)), reference(rgb.copy()), rtol=1e-5, atol=1e-4
    )


def test_unit_mode_scales_bgr_to_unit_range():
    bgr = make_frames(1, 4, 4)
    np.testing.assert_allclose(np.asarray(FramePreprocess("unit")(bgr)), bgr / 255.0, rtol=1e-6)


def test_unknown_mode_is_refused():
    with pytest.raises(
        ValueError, match=r"FramePreprocess mode: expected one of \('caffe', 'tf', 'unit'\), got 'rgb'"
    ):
        FramePreprocess("rgb")


def test_reflect_pad_mirrors_the_border():
    x = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    padded = np.asarray(ReflectPad2D(1)(x))[0, :, :, 0]
    np.testing.assert_array_equal(padded, np.pad(x[0, :, :, 0], 1, mode="reflect"))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (
            {"backbone": "resnet"},
            r"backbone: expected one of \['compact', 'mobilenetv2', 'vgg19'\], got 'resnet'",
        ),
        ({"backbone": "compact", "weights": "imagenet"}, r"backbone 'compact' has no ImageNet weights"),
        (
            {"backbone": "vgg19", "weights": "/no/such.h5"},
            r"expected None, 'imagenet' or an existing file, got '/no/such.h5'",
        ),
        ({"classes": ("normal",)}, r"classes: expected at least two distinct names"),
        (
            {"normal_class": "calm"},
            r"Classifier normal_class: expected one of \['normal', 'fight', 'shooting'\], got 'calm'",
        ),
        ({"frames": 0}, r"frames: expected >= 1, got 0"),
    ],
)
def test_build_convrnn_refuses_bad_arguments(kwargs, message):
    from tests.conftest import tiny_model

    with pytest.raises(ValueError, match=message):
        tiny_model(**kwargs)


def test_backbone_weights_file_is_loaded(tmp_path):
    from models.backbones import build_backbone

    keras.utils.set_random_seed(0)
    source = build_backbone("compact", (32, 32))
    inner = source.layers[-1]
    inner.save_weights(tmp_path / "compact.weights.h5")
    loaded = build_backbone("compact", (32, 32), weights=str(tmp_path / "compact.weights.h5"))
    frames = make_frames(2, 32, 32)
    np.testing.assert_allclose(np.asarray(loaded(frames)), np.asarray(source(frames)), rtol=1e-6)


def test_frame_motion_is_the_absolute_change_since_the_previous_frame():
    window = np.random.default_rng(0).normal(size=(2, 4, 3, 3, 5)).astype(np.float32)
    motion = np.asarray(FrameMotion()(window))
    np.testing.assert_array_equal(motion[:, 0], 0.0)
    np.testing.assert_allclose(motion[:, 1:], np.abs(window[:, 1:] - window[:, :-1]), rtol=1e-6)
