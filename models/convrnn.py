"""The paper's convRNN: TimeDistributed(backbone) -> per-frame pooling -> GRU -> dense -> logits."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from models.backbones import build_backbone
from models.layers import AttentionPool, Classifier, FrameMotion, SpatialSoftmax
from streamer.inference.frames import BGR_INPUT

TIME_DISTRIBUTED_NAME = "time_distributed"
HEAD_NAME = "head"
CLASSIFIER_NAME = "classifier"
DEFAULT_CLASSES = ("normal", "fight", "shooting")


POOLINGS = {"avg": layers.GlobalAveragePooling2D, "max": layers.GlobalMaxPooling2D}
ATTENTION = "attention"
ATTENTION_LAYER = "frame_attention"
ATTENTION_UNITS = 16
# The compact backbone's activations are O(1): below this a change counts quadratically.
MOTION_SMOOTHING = 0.05
READOUTS = ("last", "mean")


def pooled_frame_features(activations, pooling: str, motion: bool, prefix: str = "") -> list:
    """Per-frame vectors [B, T, k] from activations [B, T, h, w, k]: what each frame shows
    (pooled over space) and, with motion, how much each location changed since the last frame.

    pooling "attention": a small per-location scorer (two 1x1 layers over the activations and,
    with motion, their change) and a softmax over each frame's locations choose where to look;
    both summaries are weighted sums with those weights."""
    if pooling not in (*POOLINGS, ATTENTION):
        raise ValueError(f"pooling: expected one of {sorted((*POOLINGS, ATTENTION))}, got {pooling!r}")
    change = (
        FrameMotion(MOTION_SMOOTHING if pooling == ATTENTION else 0.0, name=f"{prefix}frame_motion")(
            activations
        )
        if motion
        else None
    )
    if pooling == ATTENTION:
        hidden = layers.Dense(ATTENTION_UNITS, name=f"{prefix}attention_look")(activations)
        if motion:
            hidden = layers.Add(name=f"{prefix}attention_inputs")(
                [
                    hidden,
                    layers.Dense(ATTENTION_UNITS, use_bias=False, name=f"{prefix}attention_move")(change),
                ]
            )
        hidden = layers.Activation("tanh", name=f"{prefix}attention_tanh")(hidden)
        scores = layers.Dense(1, name=f"{prefix}attention_score")(hidden)
        weights = SpatialSoftmax(name=f"{prefix}{ATTENTION_LAYER}")(scores)
        features = [AttentionPool(name=f"{prefix}frame_pool")([activations, weights])]
        if motion:
            features.append(AttentionPool(name=f"{prefix}motion_pool")([change, weights]))
        return features
    features = [layers.TimeDistributed(POOLINGS[pooling](), name=f"{prefix}frame_pool")(activations)]
    if motion:
        features.append(layers.TimeDistributed(POOLINGS[pooling](), name=f"{prefix}motion_pool")(change))
    return features


def build_head(
    activation_shape: Sequence[int],
    classes: Sequence[str],
    normal_class: str,
    sample_fps: float,
    gru_units: int,
    dense_units: Sequence[int],
    dropout: float,
    pooling: str = "avg",
    motion: bool = False,
    readout: str = "last",
    input_coding: str = BGR_INPUT,
) -> keras.Model:
    """Everything after the backbone, as its own model: the part that runs once per window.

    The GRU is unrolled: tf2onnx cannot freeze the gradient of a while loop.
    pooling: "avg" (the paper's), "max", which keeps a small actor's evidence from being
    averaged away by the background — but with max pooling Grad-CAM, which spreads each channel's
    gradient over its whole map, no longer shows what the classifier read (measured: pointing game
    0.20 where gradient x activation gave 0.46); with "avg" the two are the same map — or
    "attention", learnt weights over each frame's locations (the layer the paper found missing),
    which training can also be told where to put (`vigil train --box-loss`).
    motion: add each frame's change in activations.
    readout: what the classifier reads of the GRU: "last", its final state (the paper's), or
    "mean", the mean of its states over the window, so every frame speaks to the decision directly
    and the evidence cannot all come from one frame the last state remembers.
    """
    if readout not in READOUTS:
        raise ValueError(f"readout: expected one of {list(READOUTS)}, got {readout!r}")
    activations = keras.Input(tuple(activation_shape), name="activations")
    pooled = pooled_frame_features(activations, pooling, motion)
    # Actors fill a few percent of a frame, so pooled features barely vary from frame to frame;
    # standardising each channel (over batch and time, not over space) lets the GRU see that.
    # Momentum 0.9: the running statistics follow features that change fast while training from
    # scratch (at Keras' 0.99 they lagged an epoch behind and validation swung by 0.3).
    x = layers.BatchNormalization(momentum=0.9, name="pool_norm")(pooled[0])
    if motion:
        # Projected and added rather than concatenated (see FrameMotion): the same as a GRU on
        # the concatenation, up to the rank of the projection.
        change = layers.BatchNormalization(momentum=0.9, name="motion_norm")(pooled[1])
        x = layers.Add(name="frame_features")([x, layers.Dense(x.shape[-1], name="motion_proj")(change)])
    x = layers.GRU(gru_units, unroll=True, return_sequences=readout == "mean", name="gru")(x)
    if readout == "mean":
        x = layers.GlobalAveragePooling1D(name="gru_mean")(x)
    for i, units in enumerate(dense_units, start=1):
        x = layers.Dense(units, activation="relu", name=f"dense{i}")(x)
        x = layers.Dropout(dropout, name=f"dropout{i}")(x)
    logits = Classifier(list(classes), normal_class, sample_fps, input_coding, name=CLASSIFIER_NAME)(x)
    return keras.Model(activations, logits, name=HEAD_NAME)


def build_convrnn(
    backbone: str = "compact",
    frames: int = 16,
    input_size: tuple[int, int] = (128, 128),
    classes: Sequence[str] = DEFAULT_CLASSES,
    normal_class: str = "normal",
    sample_fps: float = 5.0,
    gru_units: int = 64,
    dense_units: Sequence[int] = (64,),
    dropout: float = 0.3,
    weights: str | None = None,
    pooling: str = "avg",
    motion: bool = False,
    readout: str = "last",
    input_coding: str = BGR_INPUT,
) -> keras.Model:
    """uint8 windows [B, T, H, W, 3] -> class logits [B, C].

    weights: the backbone's weights — None, "imagenet" (downloaded by Keras) or a file path.
    input_coding: what the frames hold (streamer/inference/frames.py): BGR, or motion-coded.
    """
    if frames < 1:
        raise ValueError(f"frames: expected >= 1, got {frames}")
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ValueError(f"classes: expected at least two distinct names, got {list(classes)}")
    window = keras.Input((frames, *input_size, 3), dtype="uint8", name="frames")
    net = build_backbone(backbone, input_size, weights)
    activations = layers.TimeDistributed(net, name=TIME_DISTRIBUTED_NAME)(window)
    head = build_head(
        activations.shape[1:],
        classes,
        normal_class,
        sample_fps,
        gru_units,
        dense_units,
        dropout,
        pooling,
        motion,
        readout,
        input_coding,
    )
    return keras.Model(window, head(activations), name=f"convrnn_{backbone}")


def split_convrnn(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """(backbone, head) of a model made by build_convrnn, e.g. one loaded from model.keras."""
    try:
        backbone = model.get_layer(TIME_DISTRIBUTED_NAME).layer
        head = model.get_layer(HEAD_NAME)
    except ValueError as err:
        raise ValueError(f"model {model.name!r} is not a Vigil convRNN: {err}") from None
    return backbone, head


def classifier_of(model: keras.Model) -> Classifier:
    """The Classifier layer, which carries class names, the normal class and the sampling fps."""
    return split_convrnn(model)[1].get_layer(CLASSIFIER_NAME)


def head_options(head: keras.Model) -> dict:
    """{"pooling": "avg" | "max" | "attention", "motion": bool, "readout": "last" | "mean"} of a
    head, read back from the layer names build_head gives: the one place that names them also reads them."""
    pool = head.get_layer("frame_pool")
    if isinstance(pool, AttentionPool):
        pooling = ATTENTION
    else:
        pooling = next(name for name, kind in POOLINGS.items() if isinstance(pool.layer, kind))
    names = {layer.name for layer in head.layers}
    return {
        "pooling": pooling,
        "motion": "frame_motion" in names,
        "readout": "mean" if "gru_mean" in names else "last",
    }


def default_cam(head: keras.Model) -> str:
    """The CAM that shows what this head reads: Grad-CAM for average pooling, where it equals
    HiResCAM; HiResCAM where frames are max- or attention-pooled, since only gradient x activation
    keeps which locations were read."""
    return "gradcam" if head_options(head)["pooling"] == "avg" else "hirescam"
