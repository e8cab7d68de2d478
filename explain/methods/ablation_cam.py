"""Ablation-CAM (Desai & Ramaswamy 2020), per frame, gradient-free:

w[t, k] = score(A) - score(A with channel k of frame t zeroed)
"""

from __future__ import annotations

import keras
import numpy as np

from explain.methods.base import CamMethod, class_score


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
            chunk = pairs[start : start + self.batch]
            ablated = np.repeat(activations[None], len(chunk), axis=0)
            for i, (t, k) in enumerate(chunk):
                ablated[i, t, :, :, k] = 0.0
            drops[start : start + len(chunk)] = base - class_score(self.head, ablated, target).numpy()
        return drops.reshape(frames, channels)
