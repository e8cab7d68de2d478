"""Open a model bundle: check manifest and checksums, start sessions, run the full and split graphs.

A bundle is a directory written by `vigil export`:
  model.onnx     frames uint8 [1,T,H,W,3] (+ optional target_class) -> logits, probs, activations,
                 weights, gradients, cam, cam_class: the whole convRNN and its Grad-CAM in one pass
  backbone.onnx  frames uint8 [N,H,W,3] -> activations [N,h,w,k]   (run once per frame, cached)
  head.onnx      activations [1,T,h,w,k] (+ optional target_class) -> logits ... cam, cam_class
  model.keras    the source model (explanation tools, verification)
  manifest.json  classes, T, sizes, fps, input coding, versions, sha256 of every file, metrics
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from streamer.inference.frames import BGR_INPUT, INPUT_CODINGS, ModelInput
from streamer.inference.providers import active_provider, create_session

logger = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
FULL_FILE = "model.onnx"
BACKBONE_FILE = "backbone.onnx"
HEAD_FILE = "head.onnx"
KERAS_FILE = "model.keras"
BUNDLE_FILES = (FULL_FILE, BACKBONE_FILE, HEAD_FILE, KERAS_FILE)
FORMAT = "vigil-bundle"
FORMAT_VERSION = 1

FRAMES_INPUT = "frames"
ACTIVATIONS = "activations"
TARGET_INPUT = "target_class"
# Head outputs, in this order; model.onnx adds ACTIVATIONS.
EXPLANATION_OUTPUTS = ("logits", "probs", "weights", "gradients", "cam", "cam_class")


def output_dtype(name: str) -> type:
    """The element type of one of the head's outputs: the class index is an integer, all else float."""
    return np.int32 if name == "cam_class" else np.float32


# target_class = -1 (the default baked into the graph) explains the top-scoring class.
TOP_CLASS = -1
# The head's kernels (a GRU over T steps and its backward pass) are too small to share between
# threads: one intra-op thread runs it faster than two (benchmarks/inference.py: 1.4-1.8 ms vs
# 1.7-2.2 ms for the three backbones' heads on 2 cores). `threads` applies to the other graphs.
HEAD_THREADS = 1
# How a bundle's "cam" output is defined (models/gradcam.py), with the name a person reads.
CAM_DEFINITIONS = {"gradcam": "Grad-CAM", "hirescam": "HiResCAM"}


class BundleError(Exception):
    """A bundle that cannot be used; the message names the file and what is wrong."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _require(data: dict, key: str, kind: type | tuple[type, ...], where: str):
    if key not in data:
        raise BundleError(f"{where}: missing key {key!r}")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise BundleError(f"{where}: {key}: expected {names}, got {type(value).__name__} {value!r}")
    return value


def _positive_ints(value: list, key: str, length: int, where: str) -> tuple[int, ...]:
    if len(value) != length or not all(isinstance(v, int) and v > 0 for v in value):
        raise BundleError(f"{where}: {key}: expected {length} positive integers, got {value!r}")
    return tuple(value)


@dataclass(frozen=True)
class Manifest:
    """What the runtime needs to know about a bundle, validated on load."""

    classes: tuple[str, ...]
    normal_class: str
    frames: int
    input_size: tuple[int, int]
    activation_shape: tuple[int, int, int]
    sample_fps: float
    files: dict[str, str]
    backbone: str = ""
    opset: int = 0
    versions: dict = field(default_factory=dict)
    verification: dict = field(default_factory=dict)
    metrics: dict | None = None
    cam: str = "gradcam"
    input_coding: str = BGR_INPUT

    @property
    def cam_label(self) -> str:
        return CAM_DEFINITIONS[self.cam]

    @property
    def model_input(self) -> ModelInput:
        """How frames become this bundle's input (streamer/inference/frames.py)."""
        return ModelInput(self.input_size, self.input_coding, self.sample_fps)

    @classmethod
    def from_dict(cls, data: dict, where: str = MANIFEST_FILE) -> Manifest:
        if not isinstance(data, dict):
            raise BundleError(f"{where}: expected a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
            raise BundleError(
                f"{where}: expected format {FORMAT!r} version {FORMAT_VERSION}, got "
                f"{data.get('format')!r} version {data.get('format_version')!r}"
            )
        classes = _require(data, "classes", list, where)
        if (
            len(classes) < 2
            or not all(isinstance(c, str) and c for c in classes)
            or len(set(classes)) != len(classes)
        ):
            raise BundleError(f"{where}: classes: expected two or more distinct names, got {classes!r}")
        normal = _require(data, "normal_class", str, where)
        if normal not in classes:
            raise BundleError(f"{where}: normal_class: expected one of {classes}, got {normal!r}")
        frames = _require(data, "frames", int, where)
        if frames < 1:
            raise BundleError(f"{where}: frames: expected >= 1, got {frames}")
        fps = _require(data, "sample_fps", (int, float), where)
        if not (math.isfinite(fps) and fps > 0):
            raise BundleError(f"{where}: sample_fps: expected > 0, got {fps}")
        files = _require(data, "files", dict, where)
        missing = [name for name in BUNDLE_FILES if name not in files]
        if missing:
            raise BundleError(f"{where}: files: missing checksum for {missing}")
        metrics = data.get("metrics")
        cam = data.get("cam", "gradcam")  # bundles from before the field are Grad-CAM
        if cam not in CAM_DEFINITIONS:
            raise BundleError(f"{where}: cam: expected one of {list(CAM_DEFINITIONS)}, got {cam!r}")
        coding = data.get("input", BGR_INPUT)  # bundles from before the field take BGR frames
        if coding not in INPUT_CODINGS:
            raise BundleError(f"{where}: input: expected one of {list(INPUT_CODINGS)}, got {coding!r}")
        return cls(
            classes=tuple(classes),
            normal_class=normal,
            frames=frames,
            input_size=_positive_ints(_require(data, "input_size", list, where), "input_size", 2, where),
            activation_shape=_positive_ints(
                _require(data, "activation_shape", list, where), "activation_shape", 3, where
            ),
            sample_fps=float(fps),
            files=dict(files),
            backbone=str(data.get("backbone", "")),
            opset=int(data.get("opset", 0)),
            versions=dict(data.get("versions", {})),
            verification=dict(data.get("verification", {})),
            metrics=metrics if isinstance(metrics, dict) else None,
            cam=cam,
            input_coding=coding,
        )

    def expected_io(self) -> dict[str, tuple[dict[str, list], dict[str, list]]]:
        """The contract: file -> (input shapes, output shapes); None marks a dynamic dimension."""
        t, (h, w), (ah, aw, k), c = self.frames, self.input_size, self.activation_shape, len(self.classes)
        explanation = {
            "logits": [1, c],
            "probs": [1, c],
            "weights": [1, t, k],
            "gradients": [1, t, ah, aw, k],
            "cam": [1, t, ah, aw],
            "cam_class": [1],
        }
        return {
            FULL_FILE: (
                {FRAMES_INPUT: [1, t, h, w, 3], TARGET_INPUT: [1]},
                {**explanation, ACTIVATIONS: [1, t, ah, aw, k]},
            ),
            BACKBONE_FILE: ({FRAMES_INPUT: [None, h, w, 3]}, {ACTIVATIONS: [None, ah, aw, k]}),
            HEAD_FILE: ({ACTIVATIONS: [1, t, ah, aw, k], TARGET_INPUT: [1]}, explanation),
        }


@dataclass(frozen=True)
class Explanation:
    """One window's decision and its per-frame Grad-CAM (batch axis dropped)."""

    logits: np.ndarray  # [C]
    probs: np.ndarray  # [C]
    weights: np.ndarray  # [T, k]  Grad-CAM channel weights: mean over h, w of the gradients
    gradients: np.ndarray | None  # [T, h, w, k]; None from an inference server (they stay there)
    cam: np.ndarray  # [T, h, w]
    cam_class: int  # the class the CAM explains
    activations: np.ndarray | None = None  # [T, h, w, k], from the full graph only


def read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BundleError(f"{path}: missing (not a Vigil bundle directory?)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleError(f"{path}: not valid JSON ({err})") from None
    return Manifest.from_dict(data, where=str(path))


def verify_checksums(directory: Path, manifest: Manifest) -> None:
    for name, expected in manifest.files.items():
        path = directory / name
        if not path.is_file():
            raise BundleError(f"{path}: missing")
        actual = sha256_file(path)
        if actual != expected:
            raise BundleError(f"{path}: sha256 mismatch (manifest {expected[:12]}…, file {actual[:12]}…)")


def _shape(dims) -> list:
    return [d if isinstance(d, int) else None for d in dims]


def check_session_io(session, path: Path, expected: tuple[dict, dict]) -> None:
    """Names and shapes of a session against the manifest's contract, with a one-line error."""
    # Inputs with a default (target_class) are "overridable initializers" to ONNX Runtime.
    inputs = [*session.get_inputs(), *session.get_overridable_initializers()]
    for kind, nodes, wanted in (
        ("input", inputs, expected[0]),
        ("output", session.get_outputs(), expected[1]),
    ):
        got = {node.name: _shape(node.shape) for node in nodes}
        if set(got) != set(wanted):
            raise BundleError(f"{path}: {kind}s: expected {sorted(wanted)}, got {sorted(got)}")
        for name, shape in wanted.items():
            if got[name] != shape:
                raise BundleError(f"{path}: {kind} {name!r}: expected shape {shape}, got {got[name]}")


class Bundle:
    """A verified bundle with ONNX Runtime sessions: full graph (lazy) and backbone + head."""

    up = True  # local sessions never go away (a RemoteBundle's server may)

    def __init__(
        self,
        directory: Path,
        manifest: Manifest,
        providers: tuple[str, ...],
        threads: int,
        tensorrt_fp16: bool = False,
    ):
        self.directory = directory
        self.manifest = manifest
        self._providers = providers
        self._threads = threads
        self._tensorrt_fp16 = tensorrt_fp16
        self._sessions: dict = {}

    def session(self, name: str):
        """The ONNX Runtime session of one bundle file (BACKBONE_FILE, HEAD_FILE, FULL_FILE), started
        and checked against the manifest on first use."""
        if name not in self._sessions:
            path = self.directory / name
            try:
                threads = HEAD_THREADS if name == HEAD_FILE else self._threads
                session = create_session(path, self._providers, threads, self._tensorrt_fp16)
            except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph types
                raise BundleError(f"{path}: not a loadable ONNX model ({str(err).splitlines()[0]})") from None
            check_session_io(session, path, self.manifest.expected_io()[name])
            self._sessions[name] = session
        return self._sessions[name]

    @property
    def provider(self) -> str:
        return active_provider(self.session(BACKBONE_FILE))

    def ready(self) -> bool:
        """Local sessions are always there (a RemoteBundle's server may not be)."""
        return True

    def warm_up(self) -> None:
        """First runs allocate memory and (on GPU) build kernels: pay that before the first frame."""
        h, w = self.manifest.input_size
        t = self.manifest.frames
        activations = self.backbone(np.zeros((t, h, w, 3), np.uint8))
        self.head(activations)

    def backbone(self, frames: np.ndarray) -> np.ndarray:
        """uint8 BGR frames [N, H, W, 3] at model resolution -> activations [N, h, w, k]."""
        self._check_frames(frames, leading=None)
        return self.session(BACKBONE_FILE).run([ACTIVATIONS], {FRAMES_INPUT: frames})[0]

    def head(self, activations: np.ndarray, target: int | None = None) -> Explanation:
        """Activations of one window [T, h, w, k] -> decision and per-frame CAM."""
        expected = (self.manifest.frames, *self.manifest.activation_shape)
        if activations.shape != expected:
            raise ValueError(f"head: expected activations of shape {expected}, got {activations.shape}")
        feeds = {ACTIVATIONS: activations[None].astype(np.float32, copy=False), **self._target(target)}
        outputs = self.session(HEAD_FILE).run(list(EXPLANATION_OUTPUTS), feeds)
        return self._explanation(outputs)

    def full(self, frames: np.ndarray, target: int | None = None) -> Explanation:
        """One window of uint8 BGR frames [T, H, W, 3] through model.onnx in a single pass."""
        self._check_frames(frames, leading=self.manifest.frames)
        feeds = {FRAMES_INPUT: frames[None], **self._target(target)}
        outputs = self.session(FULL_FILE).run([*EXPLANATION_OUTPUTS, ACTIVATIONS], feeds)
        return self._explanation(outputs[:-1], activations=outputs[-1][0])

    def _check_frames(self, frames: np.ndarray, leading: int | None) -> None:
        h, w = self.manifest.input_size
        ok = frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[1:] == (h, w, 3)
        if not ok or (leading is not None and frames.shape[0] != leading):
            want = f"[{leading if leading is not None else 'N'}, {h}, {w}, 3] uint8"
            raise ValueError(f"frames: expected {want}, got {list(frames.shape)} {frames.dtype}")

    def _target(self, target: int | None) -> dict:
        if target is None:
            return {}
        if not 0 <= target < len(self.manifest.classes):
            raise ValueError(f"target class: expected 0..{len(self.manifest.classes) - 1}, got {target}")
        return {TARGET_INPUT: np.array([target], np.int32)}

    @staticmethod
    def _explanation(outputs: list, activations: np.ndarray | None = None) -> Explanation:
        logits, probs, weights, gradients, cam, cam_class = (o[0] for o in outputs)
        return Explanation(logits, probs, weights, gradients, cam, int(cam_class), activations)


def open_bundle(
    directory: str | Path,
    providers: tuple[str, ...] = ("tensorrt", "cuda", "cpu"),
    threads: int = 0,
    warm_up: bool = True,
    tensorrt_fp16: bool = False,
) -> Bundle:
    """Verify a bundle (manifest, every sha256, I/O contract) and start its runtime sessions."""
    directory = Path(directory)
    if not directory.is_dir():
        raise BundleError(f"{directory}: not a directory")
    manifest = read_manifest(directory)
    verify_checksums(directory, manifest)
    bundle = Bundle(directory, manifest, tuple(providers), threads, tensorrt_fp16)
    if warm_up:
        bundle.warm_up()
    else:  # still load the sessions the monitor uses, so a bad file fails here and not mid-stream
        bundle.session(BACKBONE_FILE), bundle.session(HEAD_FILE)
    logger.info("%s: bundle %s on %s", directory.name, manifest.backbone, bundle.provider)
    return bundle
