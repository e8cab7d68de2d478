"""Grad-CAM++ (Chattopadhyay et al. 2018):

alpha[t, i, j, k] = G^2 / (2 G^2 + sum_ij A * G^3)        (the closed form, exp of the score)
w[t, k]           = sum_ij alpha * relu(G)
"""

from __future__ import annotations

import numpy as np

from explain.methods.base import CamMethod


class GradCamPlusPlus(CamMethod):
    """Pixel-wise weighted positive gradients (Chattopadhyay et al.), with the usual closed form
    for the higher derivatives (exponential of the score); better with several instances."""

    name, label = "gradcam++", "Grad-CAM++"

    def channel_weights(self, activations: np.ndarray, target: int) -> np.ndarray:
        g = self.gradients(activations, target).astype(np.float64)
        a = activations.astype(np.float64)
        denominator = 2.0 * g**2 + (a * g**3).sum(axis=(1, 2), keepdims=True)
        alpha = g**2 / np.where(denominator != 0.0, denominator, 1.0)
        return (alpha * np.maximum(g, 0.0)).sum(axis=(1, 2)).astype(np.float32)
