"""The explanation methods, one file each with its formula; CAM_METHODS names the class-activation ones."""

from __future__ import annotations

from explain.methods.ablation_cam import AblationCam
from explain.methods.base import CamMethod
from explain.methods.gradcam import GradCam
from explain.methods.gradcam_plus_plus import GradCamPlusPlus
from explain.methods.hirescam import HiResCam

CAM_METHODS: dict[str, type[CamMethod]] = {
    m.name: m for m in (GradCam, GradCamPlusPlus, HiResCam, AblationCam)
}
