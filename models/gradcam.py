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

from streamer.bundle import CAM_DEFINITIONS


def explain_head(head: keras.Model, activations: tf.Tensor, target_class: tf.Tensor, cam: str = "gradcam") -> dict:
    """Activations [B, T, h, w, k] -> logits, probs, per-frame channel weights, gradients, CAM.

    The score differentiated is the target class's logit (pre-softmax, as in Grad-CAM);
    target_class [B] int32, TOP_CLASS (-1) for the top-scoring class. One map per frame:
    gradcam: relu(sum_k w[t, k] A[t, k]) with w the gradients averaged over each frame's h, w;
    hirescam: relu(sum_k G[t, k] * A[t, k]) with G the gradients at each location.
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
    terms = weights[:, :, None, None, :] * activations if cam == "gradcam" else gradients * activations
    return {"logits": logits, "probs": tf.nn.softmax(logits, axis=-1), "weights": weights,
            "gradients": gradients, "cam": tf.nn.relu(tf.reduce_sum(terms, axis=-1)), "cam_class": target}


def default_cam(head: keras.Model) -> str:
    """The CAM that shows what this head reads: Grad-CAM unless frames are max-pooled."""
    pool = head.get_layer("frame_pool").layer
    return "hirescam" if isinstance(pool, keras.layers.GlobalMaxPooling2D) else "gradcam"
