"""Grad-CAM: the formula is the bundle's own (models/cams/gradcam.py), called here eagerly, so this
map is the monitor's map for the bundles that carry it."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from explain.methods.base import CamMethod
from models.cams.head import explain_head


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
        out = explain_head(
            self.head,
            tf.convert_to_tensor(activations[None], tf.float32),
            tf.constant([target], tf.int32),
            self.name,
        )
        return {key: value.numpy()[0] for key, value in out.items()}
