"""Serializable Keras layers the convRNN needs beyond Keras' own (no Lambda: it is unsafe to load)."""

from __future__ import annotations

import keras
from keras import ops

from streamer.inference.frames import INPUT_CODINGS

# Keras' ImageNet "caffe" preprocessing subtracts this per-channel mean from BGR pixels.
IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)
PREPROCESS_MODES = ("caffe", "tf", "unit")


@keras.saving.register_keras_serializable(package="vigil")
class FramePreprocess(keras.layers.Layer):
    """uint8 BGR frames (what OpenCV gives) -> the float input a backbone expects.

    Living inside the graph, it makes the trainer, the exported ONNX and the runtime agree by
    construction: the runtime only resizes and feeds uint8.
    modes: "caffe" (BGR minus ImageNet mean: VGG), "tf" (RGB scaled to [-1, 1]: MobileNet),
    "unit" (BGR scaled to [0, 1]: Vigil's own compact backbone).
    """

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        if mode not in PREPROCESS_MODES:
            raise ValueError(f"FramePreprocess mode: expected one of {PREPROCESS_MODES}, got {mode!r}")
        self.mode = mode

    def call(self, frames):
        x = ops.cast(frames, "float32")
        if self.mode == "caffe":
            return x - ops.convert_to_tensor(IMAGENET_BGR_MEAN, dtype="float32")
        if self.mode == "tf":
            return ops.flip(x, axis=-1) / 127.5 - 1.0
        return x / 255.0

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="vigil")
class ReflectPad2D(keras.layers.Layer):
    """Reflect padding: zero padding makes borders look like edges and pulls CAM peaks onto them."""

    def __init__(self, pad: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.pad = int(pad)

    def call(self, x):
        p = self.pad
        return ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        grow = lambda n: None if n is None else n + 2 * self.pad  # noqa: E731
        return (b, grow(h), grow(w), c)

    def get_config(self):
        return {**super().get_config(), "pad": self.pad}


@keras.saving.register_keras_serializable(package="vigil")
class FrameMotion(keras.layers.Layer):
    """|A_t - A_(t-1)| per frame of a window [B, T, ...] (zeros for its first frame).

    Pooled activations say what a frame shows, not how it changed; a fight differs from people
    standing close together mostly in that change. Computed in the head from cached per-frame
    activations, so the backbone still runs once per frame, and Grad-CAM still flows through it.

    smoothing > 0: sqrt(change^2 + smoothing^2) - smoothing, a |change| whose gradient does not
    flip sign when float noise moves a change across 0. That flip is invisible after max pooling
    but not after attention, which sends the gradient to every location: with a plain |.| the
    exported gradients differed from Keras' by 1.5e-2 on random frames. (A squared change fixed
    that too, but let a muzzle flash's large change outweigh everything else in the window.)
    0 (plain |.|) for older models.
    """

    def __init__(self, smoothing: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.smoothing = float(smoothing)

    def call(self, x):
        change = x[:, 1:] - x[:, :-1]
        # Pad, not concatenate: TF differentiates Concat with ConcatOffset, which ONNX lacks.
        change = ops.pad(change, [[0, 0], [1, 0]] + [[0, 0]] * (len(x.shape) - 2))
        if not self.smoothing:
            return ops.abs(change)
        return ops.sqrt(change * change + self.smoothing**2) - self.smoothing

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "smoothing": self.smoothing}


@keras.saving.register_keras_serializable(package="vigil")
class Classifier(keras.layers.Dense):
    """The final dense layer, carrying what the bundle's manifest needs to know about the classes.

    Keeping class names, the "normal" class, the sampling rate and the input coding
    (streamer/inference/frames.py) in the model itself means `vigil export MODEL.keras` needs no
    side file that could drift from the weights.
    """

    def __init__(
        self, class_names, normal_class: str, sample_fps: float, input_coding: str = "bgr", **kwargs
    ):
        kwargs.setdefault("units", len(class_names))
        super().__init__(**kwargs)
        class_names = [str(c) for c in class_names]
        if self.units != len(class_names):
            raise ValueError(
                f"Classifier: expected {len(class_names)} units for classes {class_names}, got {self.units}"
            )
        if normal_class not in class_names:
            raise ValueError(f"Classifier normal_class: expected one of {class_names}, got {normal_class!r}")
        if not sample_fps > 0:
            raise ValueError(f"Classifier sample_fps: expected > 0, got {sample_fps}")
        self.class_names = class_names
        self.normal_class = normal_class
        self.sample_fps = float(sample_fps)
        if input_coding not in INPUT_CODINGS:
            raise ValueError(
                f"Classifier input_coding: expected one of {list(INPUT_CODINGS)}, got {input_coding!r}"
            )
        self.input_coding = input_coding

    def get_config(self):
        return {
            **super().get_config(),
            "class_names": self.class_names,
            "normal_class": self.normal_class,
            "sample_fps": self.sample_fps,
            "input_coding": self.input_coding,
        }


@keras.saving.register_keras_serializable(package="vigil")
class SpatialSoftmax(keras.layers.Layer):
    """Scores [B, T, h, w, 1] -> weights summing to 1 over each frame's h*w locations.

    The attention the paper's model lacked: each frame chooses where to look before the GRU reads
    it, so the frame's summary, and with it the CAM, comes from the chosen places."""

    def call(self, scores):
        t, h, w = scores.shape[1:4]
        flat = ops.reshape(scores, (-1, t, h * w))
        return ops.reshape(ops.softmax(flat, axis=-1), (-1, t, h, w, 1))

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="vigil")
class AttentionPool(keras.layers.Layer):
    """(values [B, T, h, w, k], weights [B, T, h, w, 1]) -> the weighted sum over locations [B, T, k]."""

    def call(self, inputs):
        values, weights = inputs
        return ops.sum(values * weights, axis=(2, 3))

    def compute_output_shape(self, input_shape):
        values = input_shape[0]
        return (values[0], values[1], values[4])
