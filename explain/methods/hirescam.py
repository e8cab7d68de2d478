"""HiResCAM: the formula is the bundle's own (models/cams/hirescam.py): gradient x activation at
each location, summed over channels."""

from __future__ import annotations

from explain.methods.gradcam import GradCam


class HiResCam(GradCam):
    """Gradient x activation at each location (Draelos & Carin's HiResCAM), not a channel weight
    per map: equal to Grad-CAM after average pooling, and still what the classifier read after
    max pooling, where Grad-CAM spreads each channel's gradient over its whole map. The bundles of
    max-pooling models carry this one."""

    name, label = "hirescam", "HiResCAM"
