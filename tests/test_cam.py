"""CAM math and scores on hand-made inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation import fidelity
from evaluation.evaluate import Pointing
from evaluation.scores import classification_report
from streamer.display import maps

SIZE = (100, 200)  # H, W


def spot(y: int, x: int) -> np.ndarray:
    m = np.zeros(SIZE, np.float32)
    m[y, x] = 1.0
    return m


@pytest.mark.parametrize(
    "peak_at,box,margin,hit",
    [
        ((50, 50), (40, 40, 60, 60), 0, True),  # inside
        ((50, 70), (40, 40, 60, 60), 0, False),  # 10 px right of the box
        ((50, 63), (40, 40, 60, 60), 4, True),  # within the margin
        ((50, 65), (40, 40, 60, 60), 4, False),  # just beyond it
        ((60, 60), (40, 40, 60, 60), 0, True),  # on the corner: boxes are inclusive
    ],
)
def test_pointing_hit_miss_margin(peak_at, box, margin, hit):
    p = Pointing()
    p.add(spot(*peak_at), [box], margin)
    assert p.hits == int(hit)


def test_baselines_are_exact():
    p = Pointing()
    box = (90, 40, 109, 59)  # 20x20 box around the centre (100, 50)
    p.add(spot(0, 0), [box], 0)
    s = p.summary()
    assert s["pointing_game"] == 0 and s["centre_prior"] == 1.0
    assert s["random_point"] == pytest.approx(400 / 20000)
    p.add(spot(0, 0), [(0, 0, 9, 9)], 0)  # a corner box: centre misses
    assert p.summary()["centre_prior"] == 0.5


def test_energy_in_box():
    m = np.zeros(SIZE, np.float32)
    m[10:20, 10:20] = 1.0  # 100 units
    m[80, 150] = 300.0
    assert fidelity.energy_in_boxes(m, [(10, 10, 19, 19)]) == pytest.approx(0.25)
    assert fidelity.energy_in_boxes(np.zeros(SIZE), [(0, 0, 5, 5)]) == 0.0


def test_upsample_keeps_the_peak_cell():
    small = np.zeros((4, 8), np.float32)
    small[1, 6] = 1.0
    x, y = fidelity.peak(maps.upsample(small, SIZE))
    assert 6 * 25 <= x < 7 * 25 and 25 <= y < 50  # inside the cell the peak came from


def test_classification_report_on_a_known_confusion():
    y_true = [0, 0, 0, 0, 1, 1, 2, 2]
    y_pred = [0, 0, 0, 1, 1, 1, 2, 0]
    r = classification_report(y_true, y_pred, ("normal", "fight", "shooting"))
    assert r["confusion"] == [[3, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert r["accuracy"] == pytest.approx(6 / 8)
    assert r["per_class"]["normal"] == {"precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4}
    assert r["per_class"]["fight"]["precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert r["per_class"]["shooting"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
