"""Grad-CAM (Selvaraju et al. 2017), the paper's map, per frame at the time-distributed output.

    w[t, k]        = mean over (i, j) of  d score / d A[t, i, j, k]
    map[t, i, j]   = relu( sum_k  w[t, k] * A[t, i, j, k] )

One weight per channel and frame: faithful to a head that average-pools each frame's maps.
"""

from __future__ import annotations

import tensorflow as tf


def terms(gradients: tf.Tensor, activations: tf.Tensor) -> tf.Tensor:
    """w[t, k] * A[t, i, j, k] for gradients and activations [B, T, h, w, k]."""
    weights = tf.reduce_mean(gradients, axis=[2, 3])
    return weights[:, :, None, None, :] * activations
