"""Saliency at the input pixels: vanilla gradients (Simonyan et al. 2014) and SmoothGrad (Smilkov
et al. 2017), through the backbone's own preprocessing.

    saliency[t, y, x] = max over colour of | d score / d pixel[t, y, x, c] |
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from explain.methods.base import class_score
from models.layers import FramePreprocess


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


def smoothgrad(
    backbone: keras.Model,
    head: keras.Model,
    frames: np.ndarray,
    target: int,
    samples: int = 8,
    noise: float = 0.1,
    seed: int = 0,
) -> np.ndarray:
    """SmoothGrad (Smilkov et al.): saliency averaged over noisy copies (sigma = noise x 255),
    which removes the speckle of a single gradient. [T, H, W]."""
    rng = np.random.default_rng(seed)
    noisy = frames[None].astype(np.float32) + rng.normal(0, noise * 255.0, (samples, *frames.shape)).astype(
        np.float32
    )
    grads = input_gradients(backbone, head, noisy, target)
    return np.abs(grads).max(axis=-1).mean(axis=0)
