"""The deletion score on known answers: a 'model' that only looks at one square of the frame loses
its probability when the map that points at the square is removed, not when a centred rectangle or
random pixels of the same area are; masks are one per window; nothing outside a mask changes."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation import faithfulness
from tests.conftest import make_frames

H, W = 90, 160
SQUARE = (slice(10, 30), slice(120, 150))  # where the 'model' looks: top right, off centre


def square_probability(frames: list[np.ndarray]) -> float:
    """High while the square keeps its sharp checkerboard, low once blurred: a detector of it."""
    return float(np.mean([f[SQUARE].astype(float).std() for f in frames]) / 128)


def frames_with_square(n: int = 4) -> list[np.ndarray]:
    frames = [np.full((H, W, 3), 100, np.uint8) for _ in range(n)]
    board = (np.indices((20, 30)).sum(axis=0) % 2 * 255).astype(np.uint8)
    for f in frames:
        f[SQUARE] = board[..., None]
    return frames


def maps_on(region, n: int = 4) -> np.ndarray:
    maps = np.zeros((n, H, W), np.float32)
    maps[:, region[0], region[1]] = 1.0
    return maps


def test_a_map_on_what_the_model_reads_beats_the_centre_and_random_pixels():
    result = faithfulness.deletion(
        square_probability, frames_with_square(), maps_on(SQUARE), np.random.default_rng(0)
    )
    at = faithfulness.FRACTIONS.index(faithfulness.DROP_AT)
    assert result["base"] > 0.9
    drop = {kind: result["base"] - result[kind][at] for kind in faithfulness.MASKS}
    assert drop["map"] > 0.9  # the square is gone
    assert drop["map"] > drop["centre"] and drop["map"] > 2 * drop["random"], drop


def test_a_map_beside_what_the_model_reads_scores_no_better_than_the_centre():
    wrong = (slice(60, 80), slice(10, 40))  # bottom left: where nothing matters
    result = faithfulness.deletion(
        square_probability, frames_with_square(), maps_on(wrong), np.random.default_rng(0)
    )
    at = faithfulness.FRACTIONS.index(0.05)  # 5%: the map's mask is the wrong square alone
    assert result["base"] - result["map"][at] < 0.05


@pytest.mark.parametrize("fraction", faithfulness.FRACTIONS)
def test_masks_cover_the_fraction_asked(fraction):
    maps = np.random.default_rng(1).random((3, H, W)).astype(np.float32)
    for mask in (
        faithfulness.map_mask(maps, fraction),
        faithfulness.centre_mask((H, W), fraction),
        faithfulness.random_mask((H, W), fraction, np.random.default_rng(2)),
    ):
        assert mask.shape == (H, W) and abs(mask.mean() - fraction) < 0.01


def test_the_map_mask_is_the_top_of_the_window_sum_and_removal_touches_only_it():
    maps = np.zeros((2, H, W), np.float32)
    maps[0, 5, 5], maps[1, 50, 100] = 3.0, 2.0  # one peak per frame: both in the one window mask
    mask = faithfulness.map_mask(maps, 2 / (H * W))
    assert mask.sum() == 2 and mask[5, 5] and mask[50, 100]
    frames = make_frames(2, H, W)
    out = faithfulness.remove(frames, faithfulness.blurred(frames), mask)
    for before, after in zip(frames, out):
        assert np.array_equal(before[~mask], after[~mask]) and not np.array_equal(before[mask], after[mask])


def test_the_summary_reads_the_drop_at_20_percent_and_the_area():
    d = faithfulness.Deletion()
    d.add({"base": 0.9, **{kind: [0.9, 0.8, 0.5, 0.2] for kind in faithfulness.MASKS}})
    d.add({"base": 0.7, **{kind: [0.7, 0.6, 0.3, 0.0] for kind in faithfulness.MASKS}})
    s = d.summary()
    assert s["windows"] == 2 and s["probability"] == pytest.approx(0.8)
    assert s["map_drop"] == pytest.approx(0.4)  # 0.8 - mean(0.5, 0.3)
    assert 0 < s["map_auc"] < 1
