"""The CAM a bundle carries, at the output of the time-distributed backbone, in TensorFlow.

The same function is traced into the exported ONNX graphs and called eagerly by the explanation
tools, so "the CAM" means the same numbers everywhere in Vigil. Two definitions, one per bundle
(its manifest's "cam"): Grad-CAM, the paper's, and HiResCAM. They are the same map when frames are
average-pooled; after max pooling, only HiResCAM shows what the classifier read (Grad-CAM spreads
each channel's gradient, taken at its peak, over the whole map).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from models.cams import gradcam, hirescam
from streamer.inference.bundle import CAM_DEFINITIONS

CAM_TERMS = {"gradcam": gradcam.terms, "hirescam": hirescam.terms}


def explain_head(
    head: keras.Model, activations: tf.Tensor, target_class: tf.Tensor, cam: str = "gradcam"
) -> dict:
    """Activations [B, T, h, w, k] -> logits, probs, per-frame channel weights, gradients, CAM.

    The score differentiated is the target class's logit (pre-softmax, as in Grad-CAM);
    target_class [B] int32, TOP_CLASS (-1) for the top-scoring class. One map per frame:
    relu(sum_k terms[t, :, :, k]), the terms being each definition's (gradcam.py, hirescam.py).
    """
    if cam not in CAM_DEFINITIONS:
        raise ValueError(f"cam: expected one of {list(CAM_DEFINITIONS)}, got {cam!r}")
    with tf.GradientTape() as tape:
        tape.watch(activations)
        logits = head(activations, training=False)
        top = tf.argmax(logits, axis=-1, output_type=tf.int32)
        target = tf.where(target_class < 0, top, target_class)
        score = tf.reduce_sum(logits * tf.one_hot(target, tf.shape(logits)[-1]), axis=-1)
    gradients = tape.gradient(score, activations)
    weights = tf.reduce_mean(gradients, axis=[2, 3])
    terms = CAM_TERMS[cam](gradients, activations)
    return {
        "logits": logits,
        "probs": tf.nn.softmax(logits, axis=-1),
        "weights": weights,
        "gradients": gradients,
        "cam": tf.nn.relu(tf.reduce_sum(terms, axis=-1)),
        "cam_class": target,
    }
