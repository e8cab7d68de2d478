"""Per-frame CNN backbones: uint8 BGR frame -> last-conv activations, one builder per name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
from keras import layers

from models.layers import FramePreprocess, ReflectPad2D

BACKBONE_LAYER_NAME = "backbone"


@dataclass(frozen=True)
class BackboneSpec:
    """What a backbone needs: how to preprocess, how to build, and which weights it accepts."""

    preprocess: str
    build: Callable[[tuple[int, int, int], str | None], keras.Model]
    stride: int
    imagenet: bool


def _vgg19(input_shape, weights):
    # include_top=False: the output is block5_pool, the paper's "last conv" (7x7x512 at 224 px).
    return keras.applications.VGG19(include_top=False, weights=weights, input_shape=input_shape)


def _mobilenetv2(input_shape, weights):
    # alpha 0.35 is the smallest MobileNetV2 with ImageNet weights: ~3.8 ms/frame on a 2-core CPU.
    return keras.applications.MobileNetV2(
        include_top=False, weights=weights, alpha=0.35, input_shape=input_shape
    )


def _compact(input_shape, weights):
    """Vigil's own stride-8 CNN: a 16x16 CAM at 128 px, GroupNorm (batch-size independent) and
    reflect padding (no border artefacts in the CAM)."""
    # (filters, stride, dilation): the dilated last conv widens the receptive field (to ~55 px)
    # to take in a whole person, without lowering the CAM's resolution.
    stages = [(24, 2, 1), (48, 2, 1), (48, 1, 1), (96, 2, 1), (96, 1, 2)]
    x = inputs = keras.Input(input_shape, name="image")
    for i, (filters, stride, dilation) in enumerate(stages, start=1):
        last = i == len(stages)
        x = ReflectPad2D(dilation, name=f"conv{i}_pad")(x)
        x = layers.Conv2D(filters, 3, strides=stride, dilation_rate=dilation, use_bias=last, name=f"conv{i}")(
            x
        )
        if not last:
            # Not on the last conv: GroupNorm there would give every frame the same per-channel
            # spatial mean, and global average pooling would then see nothing.
            x = layers.GroupNormalization(groups=8, name=f"conv{i}_norm")(x)
        x = layers.ReLU(name=f"conv{i}_relu")(x)
    model = keras.Model(inputs, x, name="compact")
    if weights is not None:
        model.load_weights(weights)
    return model


BACKBONES: dict[str, BackboneSpec] = {
    "vgg19": BackboneSpec("caffe", _vgg19, stride=32, imagenet=True),
    "mobilenetv2": BackboneSpec("tf", _mobilenetv2, stride=32, imagenet=True),
    "compact": BackboneSpec("unit", _compact, stride=8, imagenet=False),
}


def check_weights(name: str, weights: str | None) -> None:
    """Reject a weights choice the backbone cannot honour, before any download starts."""
    spec = BACKBONES[name]
    if weights is None:
        return
    if weights == "imagenet":
        if not spec.imagenet:
            raise ValueError(f"backbone {name!r} has no ImageNet weights: use None or a weights file")
        return
    if not Path(weights).is_file():
        raise ValueError(f"backbone weights: expected None, 'imagenet' or an existing file, got {weights!r}")


def build_backbone(name: str, input_size: tuple[int, int], weights: str | None = None) -> keras.Model:
    """The per-frame sub-model wrapped by TimeDistributed: uint8 [H, W, 3] -> activations [h, w, k]."""
    if name not in BACKBONES:
        raise ValueError(f"backbone: expected one of {sorted(BACKBONES)}, got {name!r}")
    check_weights(name, weights)
    spec = BACKBONES[name]
    shape = (int(input_size[0]), int(input_size[1]), 3)
    frame = keras.Input(shape, dtype="uint8", name="frame")
    x = FramePreprocess(spec.preprocess, name="preprocess")(frame)
    activations = spec.build(shape, weights)(x)
    return keras.Model(frame, activations, name=BACKBONE_LAYER_NAME)
