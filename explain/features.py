"""What the backbone itself computes: its strongest feature maps, its first-layer filters, and
images that excite its last-layer channels (activation maximisation)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from explain.methods.saliency import float_backbone


def strongest_channels(activations: np.ndarray, count: int = 8) -> list[int]:
    """The channels with the largest mean activation over a window [T, h, w, k], strongest first:
    the same channels for every frame, so a row of the grid compares frames."""
    strength = activations.mean(axis=(0, 1, 2))
    return [int(k) for k in np.argsort(-strength, kind="stable")[:count]]


def first_conv(backbone: keras.Model) -> keras.layers.Conv2D:
    """The first convolution the frames meet (the one whose kernels look at colours)."""
    for layer in backbone.layers[-1]._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Conv2D) and not isinstance(layer, keras.layers.DepthwiseConv2D):
            return layer
    raise ValueError(f"backbone {backbone.name!r} has no Conv2D layer")


def filter_images(backbone: keras.Model, limit: int = 64) -> tuple[str, list[np.ndarray]]:
    """First-layer kernels as BGR images scaled to 0..255 each (colour kernels of a 3-channel
    input; the mean over input channels otherwise)."""
    layer = first_conv(backbone)
    kernel = np.asarray(layer.kernel)  # [kh, kw, cin, cout]
    images = []
    for k in range(min(kernel.shape[-1], limit)):
        w = kernel[..., k]
        w = w if w.shape[-1] == 3 else np.repeat(w.mean(axis=-1, keepdims=True), 3, axis=-1)
        span = float(w.max() - w.min())
        images.append(((w - w.min()) / span * 255.0 if span > 0 else np.zeros_like(w)).astype(np.uint8))
    return layer.name, images


def maximise_activation(
    backbone: keras.Model,
    channel: int,
    size: tuple[int, int],
    steps: int = 48,
    step_size: float = 4.0,
    seed: int = 0,
) -> np.ndarray:
    """A frame (uint8 BGR [H, W, 3]) that excites one last-layer channel: gradient ascent on its
    mean activation from grey noise, with a little blur each step so it is not pure high frequency."""
    forward = float_backbone(backbone)
    rng = np.random.default_rng(seed)
    image = tf.Variable(128.0 + rng.normal(0, 8, (1, *size, 3)).astype(np.float32))
    for step in range(steps):
        with tf.GradientTape() as tape:
            objective = tf.reduce_mean(forward(image)[..., channel])
        grad = tape.gradient(objective, image)
        grad /= tf.math.reduce_std(grad) + 1e-8
        image.assign(tf.clip_by_value(image + step_size * grad, 0.0, 255.0))
        if step % 8 == 7:
            image.assign(
                tf.nn.avg_pool2d(tf.pad(image, [[0, 0], [1, 1], [1, 1], [0, 0]], "SYMMETRIC"), 3, 1, "VALID")
            )
    return np.clip(image.numpy()[0], 0, 255).astype(np.uint8)
