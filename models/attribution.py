"""What in a window made the convRNN decide: class activation maps per frame, and saliency.

Every CAM method works where the paper shows a CAM is possible in a time-distributed convRNN: at
the output of the time-distributed backbone. Most methods only choose each frame's channel weights
w[t, k], and the map is relu(sum_k w[t, k] * A[t, :, :, k]); HiResCAM weighs each location. Saliency goes further back, to the input pixels.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from models.gradcam import explain_head
from models.layers import FramePreprocess


def class_score(head: keras.Model, activations: tf.Tensor, target: int) -> tf.Tensor:
    """The target class's logit for each window [B] (pre-softmax, as in Grad-CAM)."""
    return head(activations, training=False)[:, target]


def weighted_map(weights: np.ndarray, activations: np.ndarray) -> np.ndarray:
    """relu(sum_k w[t, k] A[t, :, :, k]): [T, k] x [T, h, w, k] -> [T, h, w]."""
    return np.maximum(np.einsum("tk,thwk->thw", weights, activations), 0.0).astype(np.float32)


class CamMethod:
    """A way to weigh each frame's channels; subclasses define `channel_weights`."""

    name = ""
    label = ""

    def __init__(self, head: keras.Model):
        self.head = head

    def channel_weights(self, activations: np.ndarray, target: int) -> np.ndarray:
        """[T, h, w, k] activations of one window -> [T, k] weights."""
        raise NotImplementedError

    def __call__(self, activations: np.ndarray, target: int) -> np.ndarray:
        """One non-negative map per frame, [T, h, w]."""
        return weighted_map(self.channel_weights(activations, target), activations)

    def gradients(self, activations: np.ndarray, target: int) -> np.ndarray:
        acts = tf.convert_to_tensor(activations[None], tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(acts)
            score = class_score(self.head, acts, target)
        return tape.gradient(score, acts).numpy()[0]


class GradCam(CamMethod):
    """Gradients averaged over each frame's map (Selvaraju et al.): the CAM the monitor draws."""

    name, label = "gradcam", "Grad-CAM"

    def __call__(self, activations: np.ndarray, target: int) -> np.ndarray:
        # The definition Vigil exports to ONNX, so this map is the monitor's map for the bundles
        # that carry it.
        return self.explain(activations, target)["cam"]

    def channel_weights(self, activations: np.ndarray, target: int) -> np.ndarray:
        return self.explain(activations, target)["weights"]

    def explain(self, activations: np.ndarray, target: int) -> dict[str, np.ndarray]:
        out = explain_head(self.head, tf.convert_to_tensor(activations[None], tf.float32),
                           tf.constant([target], tf.int32), self.name)
        return {key: value.numpy()[0] for key, value in out.items()}


class GradCamPlusPlus(CamMethod):
    """Pixel-wise weighted positive gradients (Chattopadhyay et al.), with the usual closed form
    for the higher derivatives (exponential of the score); better with several instances."""

    name, label = "gradcam++", "Grad-CAM++"

    def channel_weights(self, activations: np.ndarray, target: int) -> np.ndarray:
        g = self.gradients(activations, target).astype(np.float64)
        a = activations.astype(np.float64)
        denominator = 2.0 * g ** 2 + (a * g ** 3).sum(axis=(1, 2), keepdims=True)
        alpha = g ** 2 / np.where(denominator != 0.0, denominator, 1.0)
        return (alpha * np.maximum(g, 0.0)).sum(axis=(1, 2)).astype(np.float32)


class AblationCam(CamMethod):
    """Gradient-free (Desai & Ramaswamy's Ablation-CAM, per frame): the weight of channel k in
    frame t is how much the class score drops when that one map is zeroed. Batched head runs:
    T x k windows, each as cheap as the monitor's per-window head."""

    name, label = "ablation", "Ablation-CAM"

    def __init__(self, head: keras.Model, batch: int = 64):
        super().__init__(head)
        self.batch = batch

    def channel_weights(self, activations: np.ndarray, target: int) -> np.ndarray:
        frames, channels = activations.shape[0], activations.shape[-1]
        base = float(class_score(self.head, activations[None], target).numpy()[0])
        pairs = [(t, k) for t in range(frames) for k in range(channels)]
        drops = np.empty(len(pairs), np.float32)
        for start in range(0, len(pairs), self.batch):
            chunk = pairs[start:start + self.batch]
            ablated = np.repeat(activations[None], len(chunk), axis=0)
            for i, (t, k) in enumerate(chunk):
                ablated[i, t, :, :, k] = 0.0
            drops[start:start + len(chunk)] = base - class_score(self.head, ablated, target).numpy()
        return drops.reshape(frames, channels)


class HiResCam(GradCam):
    """Gradient x activation at each location (Draelos & Carin's HiResCAM), not a channel weight
    per map: equal to Grad-CAM after average pooling, and still what the classifier read after
    max pooling, where Grad-CAM spreads each channel's gradient over its whole map. The bundles of
    max-pooling models carry this one."""

    name, label = "hirescam", "HiResCAM"


CAM_METHODS: dict[str, type[CamMethod]] = {m.name: m for m in (GradCam, GradCamPlusPlus, HiResCam, AblationCam)}


# ---------------------------------------------------------------- saliency at the input

def float_backbone(backbone: keras.Model):
    """The backbone from float BGR frames (its in-graph preprocessing included), so gradients
    can reach the pixels: the uint8 input of the deployed graph has none."""
    preprocess = next(layer for layer in backbone.layers if isinstance(layer, FramePreprocess))
    net = backbone.layers[-1]
    return lambda frames: net(preprocess(frames), training=False)


def input_gradients(backbone: keras.Model, head: keras.Model, windows: np.ndarray, target: int) -> np.ndarray:
    """d score / d pixels for windows [N, T, H, W, 3] (float) -> same shape."""
    forward = float_backbone(backbone)
    n, t = windows.shape[:2]
    x = tf.convert_to_tensor(windows.reshape(n * t, *windows.shape[2:]), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        acts = forward(x)
        score = tf.reduce_sum(class_score(head, tf.reshape(acts, (n, t, *acts.shape[1:])), target))
    return tape.gradient(score, x).numpy().reshape(windows.shape)


def saliency(backbone: keras.Model, head: keras.Model, frames: np.ndarray, target: int) -> np.ndarray:
    """Vanilla gradient saliency (Simonyan et al.): max over colour of |gradient|, [T, H, W]."""
    grads = input_gradients(backbone, head, frames[None].astype(np.float32), target)[0]
    return np.abs(grads).max(axis=-1)


def smoothgrad(backbone: keras.Model, head: keras.Model, frames: np.ndarray, target: int,
               samples: int = 8, noise: float = 0.1, seed: int = 0) -> np.ndarray:
    """SmoothGrad (Smilkov et al.): saliency averaged over noisy copies (sigma = noise x 255),
    which removes the speckle of a single gradient. [T, H, W]."""
    rng = np.random.default_rng(seed)
    noisy = frames[None].astype(np.float32) + rng.normal(0, noise * 255.0, (samples, *frames.shape)).astype(np.float32)
    grads = input_gradients(backbone, head, noisy, target)
    return np.abs(grads).max(axis=-1).mean(axis=0)


# ---------------------------------------------------------------- video views

def frame_importance(weights: np.ndarray, activations: np.ndarray) -> np.ndarray:
    """How much each frame's activations push the score (first order): sum_k w[t, k] mean(A[t, k]).
    Signed, [T]; the strip in the report shows it."""
    return np.einsum("tk,tk->t", weights, activations.mean(axis=(1, 2))).astype(np.float32)


def temporal_smooth(maps: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Maps [T, ...] blurred along time with a Gaussian of sigma frames (edges renormalised):
    what attention would look like if it could not jump from frame to frame."""
    t = np.arange(maps.shape[0])
    kernel = np.exp(-0.5 * ((t[:, None] - t[None, :]) / max(sigma, 1e-6)) ** 2)
    kernel /= kernel.sum(axis=1, keepdims=True)
    return np.tensordot(kernel, maps, axes=(1, 0)).astype(np.float32)
