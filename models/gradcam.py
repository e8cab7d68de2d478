"""Grad-CAM at the output of the time-distributed backbone, in TensorFlow: the one definition.

The same function is traced into the exported ONNX graphs and called eagerly by the explanation
tools, so "the CAM" means the same numbers everywhere in Vigil.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def explain_head(head: keras.Model, activations: tf.Tensor, target_class: tf.Tensor) -> dict:
    """Activations [B, T, h, w, k] -> logits, probs, per-frame channel weights, gradients, CAM.

    The score differentiated is the target class's logit (pre-softmax, as in Grad-CAM);
    target_class [B] int32, TOP_CLASS (-1) for the top-scoring class. One map per frame: the
    channel weights are the gradients averaged over each frame's h, w only.
    """
    with tf.GradientTape() as tape:
        tape.watch(activations)
        logits = head(activations, training=False)
        top = tf.argmax(logits, axis=-1, output_type=tf.int32)
        target = tf.where(target_class < 0, top, target_class)
        score = tf.reduce_sum(logits * tf.one_hot(target, tf.shape(logits)[-1]), axis=-1)
    gradients = tape.gradient(score, activations)
    weights = tf.reduce_mean(gradients, axis=[2, 3])
    cam = tf.nn.relu(tf.reduce_sum(weights[:, :, None, None, :] * activations, axis=-1))
    return {"logits": logits, "probs": tf.nn.softmax(logits, axis=-1), "weights": weights,
            "gradients": gradients, "cam": cam, "cam_class": target}
