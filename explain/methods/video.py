"""Views that only video has: how much each frame pushed the decision, and maps smoothed in time
(what attention would look like if it could not jump between frames, which the paper notes)."""

from __future__ import annotations

import numpy as np


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
