"""Shared factories: tiny frames, tiny convRNNs and their exported bundles (seconds, not minutes)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
FOOTAGE = REPO.parent / "shared" / "data" / "footage" / "vtest.avi"
REAL_FIGHTS = REPO.parent / "shared" / "data" / "real-fights"  # read its README before using it

TINY = {
    "backbone": "compact",
    "frames": 3,
    "input_size": (32, 32),
    "classes": ("normal", "fight", "shooting"),
    "gru_units": 8,
    "dense_units": (8,),
    "sample_fps": 5.0,
}


def make_frames(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """n random uint8 BGR frames."""
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def tiny_model(**overrides):
    from models.convrnn import build_convrnn

    return build_convrnn(**{**TINY, **overrides})


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A real exported bundle of a tiny compact convRNN (exported once per session)."""
    pytest.importorskip("tensorflow")
    import keras

    from models.export import export_bundle

    keras.utils.set_random_seed(1)
    return export_bundle(tiny_model(), tmp_path_factory.mktemp("bundle") / "tiny")


@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path) -> Path:
    """A private copy of the tiny bundle that a test may damage."""
    import shutil

    return Path(shutil.copytree(tiny_bundle, tmp_path / "bundle"))
