"""The mechanics every CAM method shares, where the paper shows a CAM is possible in a
time-distributed convRNN: the output of the time-distributed backbone. Most methods only choose
each frame's channel weights w[t, k]; the map is relu(sum_k w[t, k] * A[t, :, :, k])."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


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
