"""Export a Keras convRNN to a Vigil bundle: full graph with Grad-CAM, backbone and head, manifest."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from pathlib import Path

import keras
import numpy as np
import onnx
import tensorflow as tf
import tf2onnx

from evaluation.versions import package_versions
from models import onnx_grad_ops  # noqa: F401  (registers the gradient-op handlers)
from models.cams.head import explain_head
from models.convrnn import classifier_of, default_cam, split_convrnn
from models.onnx_fusion import concat_placed_blocks
from streamer.inference import bundle as fmt

logger = logging.getLogger(__name__)

OPSET = 17
VERIFY_TOLERANCE = 1e-4
VERSIONED_PACKAGES = ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime-gpu", "numpy")


class ExportError(Exception):
    """Export failed; the message says at which step and why."""


def _frames_spec(batch: int | None, size) -> tf.TensorSpec:
    return tf.TensorSpec([batch, *size, 3], tf.uint8, name=fmt.FRAMES_INPUT)


def _target_spec() -> tf.TensorSpec:
    return tf.TensorSpec([1], tf.int32, name=fmt.TARGET_INPUT)


def graph_functions(model: keras.Model, cam: str = "gradcam") -> dict[str, tuple]:
    """file name -> (tf.function, input signature) for the three exported graphs.

    Shapes are static except the backbone's batch: a dynamic batch leaves BroadcastGradientArgs
    in the gradient graph, which tf2onnx cannot convert. Keras 3's TimeDistributed runs the
    backbone frame by frame; folding T into the batch gives ONNX Runtime one big convolution.
    """
    backbone, head = split_convrnn(model)
    t, h, w = model.input.shape[1:4]

    def backbone_fn(frames):
        return {fmt.ACTIVATIONS: backbone(frames, training=False)}

    def head_fn(activations, target_class):
        return explain_head(head, activations, target_class, cam)

    def full_fn(frames, target_class):
        activations = backbone(tf.reshape(frames, [t, h, w, 3]), training=False)
        activations = tf.reshape(activations, [1, t, *activations.shape[1:]])
        return {**explain_head(head, activations, target_class, cam), fmt.ACTIVATIONS: activations}

    activation_shape = backbone.output.shape[1:]
    return {
        fmt.BACKBONE_FILE: (backbone_fn, [_frames_spec(None, (h, w))]),
        fmt.HEAD_FILE: (
            head_fn,
            [tf.TensorSpec([1, t, *activation_shape], tf.float32, name=fmt.ACTIVATIONS), _target_spec()],
        ),
        fmt.FULL_FILE: (
            full_fn,
            [tf.TensorSpec([1, t, h, w, 3], tf.uint8, name=fmt.FRAMES_INPUT), _target_spec()],
        ),
    }


def make_target_optional(proto: onnx.ModelProto) -> None:
    """Give target_class a default (-1: top class) so callers may leave it out.

    An ONNX graph input that also has an initializer is optional: ONNX Runtime uses the
    initializer unless the caller feeds the input.
    """
    names = [i.name for i in proto.graph.input]
    if fmt.TARGET_INPUT in names:
        default = onnx.numpy_helper.from_array(np.array([fmt.TOP_CLASS], np.int32), fmt.TARGET_INPUT)
        proto.graph.initializer.append(default)


def convert(fn, signature: list, opset: int = OPSET) -> onnx.ModelProto:
    proto, _ = tf2onnx.convert.from_function(tf.function(fn), input_signature=signature, opset=opset)
    make_target_optional(proto)
    concat_placed_blocks(proto)  # the per-frame gradients: one Concat, not T pads and a sum
    return proto


def build_manifest(model: keras.Model, out: Path, opset: int, metrics: dict | None, cam: str) -> dict:
    backbone, _ = split_convrnn(model)
    classifier = classifier_of(model)
    return {
        "format": fmt.FORMAT,
        "format_version": fmt.FORMAT_VERSION,
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "backbone": backbone.layers[-1].name,
        "model": model.name,
        "classes": classifier.class_names,
        "normal_class": classifier.normal_class,
        "sample_fps": classifier.sample_fps,
        "input": classifier.input_coding,
        "frames": int(model.input.shape[1]),
        "input_size": [int(d) for d in model.input.shape[2:4]],
        "activation_shape": [int(d) for d in backbone.output.shape[1:]],
        "cam": cam,
        "opset": opset,
        "versions": package_versions(VERSIONED_PACKAGES),
        "files": {name: fmt.sha256_file(out / name) for name in fmt.BUNDLE_FILES},
        "metrics": metrics,
    }


def reference_explanation(model: keras.Model, frames: np.ndarray, target: int | None, cam: str) -> dict:
    """Keras + GradientTape on the model as built (TimeDistributed, no folding): the ground truth."""
    td_layer = model.get_layer("time_distributed")
    _, head = split_convrnn(model)
    activations = td_layer(tf.constant(frames[None]), training=False)
    target_t = tf.constant([fmt.TOP_CLASS if target is None else target], tf.int32)
    result = {k: v.numpy() for k, v in explain_head(head, activations, target_t, cam).items()}
    result[fmt.ACTIVATIONS] = activations.numpy()
    return result


def relative_error(actual: np.ndarray, expected: np.ndarray, scale: float | None = None) -> float:
    """max |actual - expected| relative to a scale: by default expected's largest magnitude."""
    scale = float(np.abs(expected).max()) if scale is None else scale
    return float(np.abs(actual.astype(np.float64) - expected).max() / max(scale, 1e-12))


def cam_scale(weights: np.ndarray, activations: np.ndarray) -> float:
    """The scale of a CAM's terms, max over pixels of sum_k |w_k A_k|; weights per frame and
    channel [..., k] (Grad-CAM) or per location, shaped like the activations (HiResCAM).

    A CAM is a sum of positive and negative terms that may nearly cancel, so its rounding error
    is bounded relative to the terms' magnitude, not to the (possibly tiny) result.
    """
    if weights.ndim != activations.ndim:
        weights = weights[..., None, None, :]
    return float(np.abs(weights * activations).sum(-1).max())


def error_scales(cam_weights: np.ndarray, activations: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    """The scales relative_error judges a CAM and logits on, where their own size misleads.

    Both can be near zero by cancellation (an undecided model's logits), and then a rounding error is
    huge relative to them. A CAM is judged on its terms (cam_scale); logits on at least one unit,
    the scale softmax reads them on: an error e in the logits moves no probability by more than e/2.
    """
    return {"cam": cam_scale(cam_weights, activations), "logits": max(float(np.abs(logits).max()), 1.0)}


def compare(explanation: fmt.Explanation, reference: dict, cam: str) -> dict[str, float]:
    errors = {}
    weights = reference["weights" if cam == "gradcam" else "gradients"][0]
    scales = error_scales(weights, reference[fmt.ACTIVATIONS][0], reference["logits"][0])
    for name in ("logits", "probs", "weights", "gradients", "cam", fmt.ACTIVATIONS):
        actual = getattr(explanation, name)
        if actual is not None:
            errors[name] = relative_error(actual, reference[name][0], scales.get(name))
    errors["cam_class_matches"] = float(explanation.cam_class == int(reference["cam_class"][0]))
    return errors


def verify_bundle(model: keras.Model, out: Path, seed: int = 0) -> dict:
    """Run the written bundle on ONNX Runtime (full and split) against Keras + GradientTape."""
    bundle = fmt.open_bundle(out, providers=("cpu",), warm_up=False)
    m = bundle.manifest
    frames = np.random.default_rng(seed).integers(0, 256, (m.frames, *m.input_size, 3), dtype=np.uint8)
    reference = reference_explanation(model, frames, None, m.cam)
    full = bundle.full(frames)
    split = bundle.head(bundle.backbone(frames))
    report = {
        "seed": seed,
        "full_vs_keras": compare(full, reference, m.cam),
        "split_vs_keras": compare(split, reference, m.cam),
    }
    worst = max(
        v
        for k in ("full_vs_keras", "split_vs_keras")
        for n, v in report[k].items()
        if n != "cam_class_matches"
    )
    matches = all(report[k]["cam_class_matches"] == 1.0 for k in ("full_vs_keras", "split_vs_keras"))
    report["max_relative_error"] = worst
    report["passed"] = bool(worst <= VERIFY_TOLERANCE and matches)
    return report


def export_bundle(
    model: keras.Model | str | Path,
    out: str | Path,
    *,
    opset: int = OPSET,
    metrics: dict | None = None,
    verify: bool = True,
    cam: str | None = None,
) -> Path:
    """Write a bundle directory; with verify, refuse (ExportError) one whose numbers disagree.

    cam: "gradcam" or "hirescam"; default: the one that shows what this head reads (default_cam).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(model, (str, Path)):
        source = Path(model)
        model = load_model(source)
        if source.resolve() != (out / fmt.KERAS_FILE).resolve():
            shutil.copyfile(source, out / fmt.KERAS_FILE)
    else:
        model.save(out / fmt.KERAS_FILE)
    _, head = split_convrnn(model)  # fail early, with a clear message, on a model that is not a convRNN
    cam = cam or default_cam(head)
    for name, (fn, signature) in graph_functions(model, cam).items():
        logger.info("converting %s", name)
        try:
            proto = convert(fn, signature, opset)
        except Exception as err:
            raise ExportError(f"{name}: tf2onnx conversion failed: {err}") from err
        onnx.save(proto, out / name)
    manifest = build_manifest(model, out, opset, metrics, cam)
    (out / fmt.MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    if verify:
        report = verify_bundle(model, out)
        manifest["verification"] = report
        (out / fmt.MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        if not report["passed"]:
            raise ExportError(
                f"{out}: ONNX disagrees with Keras (max relative error "
                f"{report['max_relative_error']:.2e} > {VERIFY_TOLERANCE:.0e}): {report}"
            )
    return out


def load_model(path: str | Path) -> keras.Model:
    """Load a Vigil model.keras with Keras' safe mode on (our layers are registered, no Lambda)."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: no such model file")
    try:
        return keras.models.load_model(path)
    except Exception as err:
        raise ExportError(f"{path}: cannot load as a Keras model ({str(err).splitlines()[0]})") from None
