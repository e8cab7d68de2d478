"""The exported ONNX graphs against Keras + GradientTape: logits, activations, gradients, CAM."""

from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from models.convrnn import HEAD_NAME, TIME_DISTRIBUTED_NAME  # noqa: E402
from models.export import VERIFY_TOLERANCE, error_scales, export_bundle, relative_error  # noqa: E402
from streamer.inference.bundle import open_bundle  # noqa: E402
from tests.conftest import make_frames, tiny_model  # noqa: E402


def gradient_tape_reference(model, frames: np.ndarray, target: int | None, cam: str = "gradcam") -> dict:
    """Grad-CAM (or HiResCAM) written out independently of models.gradcam: the test's own ground truth."""
    activations = model.get_layer(TIME_DISTRIBUTED_NAME)(tf.constant(frames[None]))
    with tf.GradientTape() as tape:
        tape.watch(activations)
        logits = model.get_layer(HEAD_NAME)(activations, training=False)
        chosen = int(np.argmax(logits.numpy()[0])) if target is None else target
        score = logits[0, chosen]
    gradients = tape.gradient(score, activations).numpy()[0]
    acts = activations.numpy()[0]
    weights = gradients.mean(axis=(1, 2))  # [T, k]
    per_location = weights[:, None, None, :] if cam == "gradcam" else gradients
    return {
        "logits": logits.numpy()[0],
        "activations": acts,
        "gradients": gradients,
        "weights": weights,
        "cam": np.maximum((acts * per_location).sum(-1), 0),
        "cam_class": chosen,  # [T, h, w]
        "cam_weights": per_location,
    }


def assert_matches(explanation, reference, names=("logits", "weights", "gradients", "cam")):
    scales = error_scales(reference["cam_weights"], reference["activations"], reference["logits"])
    for name in names:
        err = relative_error(getattr(explanation, name), reference[name], scales.get(name))
        assert err <= VERIFY_TOLERANCE, f"{name}: relative error {err:.2e}"
    assert explanation.cam_class == reference["cam_class"]


@pytest.fixture(scope="module")
def model_and_bundle(tmp_path_factory):
    keras.utils.set_random_seed(3)
    model = tiny_model(dense_units=(16, 8))  # two ReLU dense layers: exercises ReluGrad
    return model, open_bundle(export_bundle(model, tmp_path_factory.mktemp("b") / "m"), providers=("cpu",))


def test_full_graph_matches_gradient_tape(model_and_bundle):
    model, bundle = model_and_bundle
    frames = make_frames(3, 32, 32, seed=5)
    reference = gradient_tape_reference(model, frames, None)
    full = bundle.full(frames)
    assert_matches(full, reference)
    assert relative_error(full.activations, reference["activations"]) <= VERIFY_TOLERANCE
    np.testing.assert_allclose(full.probs, tf.nn.softmax(reference["logits"]).numpy(), atol=1e-6)


def test_split_equals_full(model_and_bundle):
    _, bundle = model_and_bundle
    frames = make_frames(3, 32, 32, seed=6)
    activations = np.concatenate([bundle.backbone(frames[i : i + 1]) for i in range(3)])  # frame by frame
    split, full = bundle.head(activations), bundle.full(frames)
    # Errors relative to each tensor's scale: a batch of 3 and 3 batches of 1 sum in other orders.
    assert relative_error(activations, full.activations) <= VERIFY_TOLERANCE
    scales = error_scales(full.weights, full.activations, full.logits)
    for name in ("logits", "probs", "weights", "gradients", "cam"):
        err = relative_error(getattr(split, name), getattr(full, name), scales.get(name))
        assert err <= VERIFY_TOLERANCE, f"{name}: relative error {err:.2e}"


@pytest.mark.parametrize("target", [0, 1, 2])
def test_requested_class_gives_that_class_cam(model_and_bundle, target):
    model, bundle = model_and_bundle
    frames = make_frames(3, 32, 32, seed=7)
    reference = gradient_tape_reference(model, frames, target)
    for explanation in (
        bundle.full(frames, target=target),
        bundle.head(bundle.backbone(frames), target=target),
    ):
        assert explanation.cam_class == target
        assert_matches(explanation, reference)


def test_classes_get_different_gradients(model_and_bundle):
    _, bundle = model_and_bundle
    frames = make_frames(3, 32, 32, seed=8)
    a, b = bundle.full(frames, target=0), bundle.full(frames, target=1)
    assert not np.allclose(a.gradients, b.gradients)


def test_target_out_of_range_is_refused(model_and_bundle):
    _, bundle = model_and_bundle
    with pytest.raises(ValueError, match=r"target class: expected 0\.\.2, got 3"):
        bundle.full(make_frames(3, 32, 32), target=3)


BACKBONE_CASES = [
    pytest.param("compact", (32, 32), 3, id="compact"),
    pytest.param("mobilenetv2", (64, 64), 2, id="mobilenetv2"),
    # The paper's backbone at its own resolution: 7x7x512 last-conv activations.
    pytest.param("vgg19", (224, 224), 2, id="vgg19"),
]


@pytest.mark.parametrize("backbone,size,frames", BACKBONE_CASES)
def test_every_backbone_exports_and_matches(tmp_path, backbone, size, frames):
    keras.utils.set_random_seed(0)
    model = tiny_model(backbone=backbone, input_size=size, frames=frames)
    out = export_bundle(model, tmp_path / backbone)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["verification"]["passed"], manifest["verification"]
    bundle = open_bundle(out, providers=("cpu",))
    video = make_frames(frames, *size, seed=9)
    assert_matches(bundle.full(video), gradient_tape_reference(model, video, None))
    if backbone == "vgg19":
        assert manifest["activation_shape"] == [7, 7, 512]


def test_manifest_describes_the_model(tiny_bundle):
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    assert manifest["classes"] == ["normal", "fight", "shooting"]
    assert manifest["normal_class"] == "normal"
    assert manifest["frames"] == 3 and manifest["input_size"] == [32, 32]
    assert manifest["activation_shape"] == [4, 4, 96]  # stride 8
    assert manifest["sample_fps"] == 5.0
    assert {"tensorflow", "tf2onnx", "onnxruntime-gpu"} <= set(manifest["versions"])
    assert set(manifest["files"]) == {"model.onnx", "backbone.onnx", "head.onnx", "model.keras"}


def test_model_keras_loads_in_safe_mode(tiny_bundle):
    model = keras.models.load_model(tiny_bundle / "model.keras", safe_mode=True)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model._flatten_layers())
    frames = make_frames(3, 32, 32)
    np.testing.assert_allclose(
        model(frames[None]).numpy()[0],
        open_bundle(tiny_bundle, providers=("cpu",)).full(frames).logits,
        rtol=1e-4,
        atol=1e-5,
    )


def test_export_from_keras_file_matches(tiny_bundle, tmp_path):
    out = export_bundle(tiny_bundle / "model.keras", tmp_path / "again")
    frames = make_frames(3, 32, 32, seed=2)
    a = open_bundle(tiny_bundle, providers=("cpu",)).full(frames)
    b = open_bundle(out, providers=("cpu",)).full(frames)
    np.testing.assert_allclose(a.cam, b.cam, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "head,cam",
    [
        ({"pooling": "max"}, "hirescam"),
        ({"pooling": "max", "motion": True}, "hirescam"),
        ({"pooling": "avg", "motion": True}, "gradcam"),
        ({"pooling": "attention", "motion": True}, "hirescam"),
        ({"pooling": "attention", "motion": True, "readout": "mean"}, "hirescam"),
    ],
    ids=["max-pooling", "max-motion", "avg-motion", "attention-motion", "attention-mean-readout"],
)
def test_head_variant_exports_and_matches(tmp_path, head, cam):
    """A max- or attention-pooling head carries HiResCAM (Grad-CAM would not show what it read), an
    average-pooling one Grad-CAM; either way the ONNX map is the reference's."""
    keras.utils.set_random_seed(4)
    model = tiny_model(**head)
    bundle = open_bundle(export_bundle(model, tmp_path / "variant"), providers=("cpu",))
    assert bundle.manifest.cam == cam
    frames = make_frames(3, 32, 32, seed=10)
    for target in (None, 2):
        assert_matches(
            bundle.full(frames, target=target), gradient_tape_reference(model, frames, target, cam)
        )


def test_an_undecided_model_still_verifies(tmp_path):
    """A model whose logits nearly cancel on the frames export verifies with (an undecided model) rounds
    like any other: its logits must be judged on the scale softmax reads them on, not on their own
    tiny size, or a sound bundle is refused at the end of a training run."""
    from models.convrnn import classifier_of, default_cam, split_convrnn
    from models.export import reference_explanation

    keras.utils.set_random_seed(4)
    model = tiny_model()
    frames = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)  # verify_bundle's
    logits = reference_explanation(model, frames, None, default_cam(split_convrnn(model)[1]))["logits"][0]
    classifier = classifier_of(model)
    kernel, bias = classifier.get_weights()
    # These frames' logits now nearly cancel: 0, 1e-4, 2e-4 (still one top class, for the CAM).
    classifier.set_weights([kernel, bias - logits + 1e-4 * np.arange(logits.size)])
    out = export_bundle(model, tmp_path / "undecided")  # raises ExportError where it disagrees
    report = json.loads((out / "manifest.json").read_text())["verification"]
    assert report["passed"] and report["full_vs_keras"]["logits"] <= VERIFY_TOLERANCE


def test_a_bundle_that_disagrees_with_its_model_is_refused(tiny_bundle):
    """Verification must still catch logits that differ by a hundredth, the floor of one unit included."""
    from models.convrnn import classifier_of
    from models.export import load_model, verify_bundle

    model = load_model(tiny_bundle / "model.keras")
    classifier = classifier_of(model)
    kernel, bias = classifier.get_weights()
    classifier.set_weights([kernel, bias + 0.01 * np.arange(bias.size)])
    report = verify_bundle(model, tiny_bundle)
    assert not report["passed"] and report["full_vs_keras"]["logits"] >= 0.005
