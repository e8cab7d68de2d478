"""The heat carried through time (pure, no threads): a frame without its own map keeps a fading
heat instead of a blank, new evidence takes hold within a frame or two, a memory of 0 is each
frame's own map, and the peak moves less when the map flickers between two places."""

from __future__ import annotations

import numpy as np
import pytest

from streamer.display.trail import HEAT_FLOOR, HeatTrail, peak_of


def spot(y: int, x: int, value: float = 1.0) -> np.ndarray:
    m = np.zeros((16, 16), np.float32)
    m[y, x] = value
    return m


def test_heat_fades_when_the_evidence_goes_instead_of_vanishing():
    trail = HeatTrail(0.4)
    for i in range(10):
        trail.update(spot(4, 4), i * 0.04)
    faded = [float(trail.update(None, 0.36 + i * 0.04).max()) for i in range(1, 40)]
    assert faded[0] > 0.85  # one 25 fps frame later: still there
    assert all(a > b for a, b in zip(faded, faded[1:]))
    assert faded[-1] < HEAT_FLOOR  # ~1.6 s later: gone


def test_new_evidence_takes_hold_within_two_frames():
    trail = HeatTrail(0.4)
    trail.update(np.zeros((16, 16), np.float32), 0.0)
    shown = [float(trail.update(spot(8, 8), t).max()) for t in (0.04, 0.08)]
    assert shown[0] > 0.35 and shown[1] > 0.6


def test_no_memory_is_each_frames_own_map():
    trail = HeatTrail(0.0)
    assert np.array_equal(trail.update(spot(1, 1), 0.0), spot(1, 1))
    assert np.array_equal(trail.update(spot(9, 9), 0.04), spot(9, 9))
    assert float(trail.update(None, 0.08).max()) == 0.0


def jumps(memory_s: float) -> list[float]:
    """The peak's moves when the map alternates every 200 ms between a strong and a weak place."""
    trail, peaks = HeatTrail(memory_s), []
    for i in range(50):
        unit = spot(3, 3) if (i // 5) % 2 == 0 else spot(12, 12, 0.6) + spot(3, 3, 0.4)
        peaks.append(peak_of(trail.update(unit, i * 0.04)))
    return [float(np.hypot(b[0] - a[0], b[1] - a[1])) for a, b in zip(peaks, peaks[1:]) if a and b]


def test_the_peak_jumps_less_with_memory():
    assert sum(j > 0 for j in jumps(0.4)) < sum(j > 0 for j in jumps(0.0))


@pytest.mark.parametrize("value,expected", [(0.1, None), (0.5, (4.5 / 16, 2.5 / 16))])
def test_peak_is_none_below_the_floor(value, expected):
    assert peak_of(spot(2, 4, value)) == (pytest.approx(expected) if expected else None)
