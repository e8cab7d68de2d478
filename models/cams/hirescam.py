"""HiResCAM (Draelos & Carin 2020), per frame at the time-distributed output.

    map[t, i, j]   = relu( sum_k  d score / d A[t, i, j, k]  *  A[t, i, j, k] )

Gradient times activation at each location: equal to Grad-CAM after average pooling, and still
what the classifier read after max pooling, where Grad-CAM spreads each channel's gradient (taken at
its peak) over the whole map. The bundles of max-pooling heads carry this one.
"""

from __future__ import annotations

import tensorflow as tf


def terms(gradients: tf.Tensor, activations: tf.Tensor) -> tf.Tensor:
    """G[t, i, j, k] * A[t, i, j, k] for gradients and activations [B, T, h, w, k]."""
    return gradients * activations
