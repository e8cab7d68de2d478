"""Training the head's attention to look where the actors are: boxes that follow the augmented
picture, their masks on the CAM's grid, the loss on the attention, and a run that obeys it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from models.training.data import BAND, STAMP, Augmentation, Overlay, box_mask

pytest.importorskip("tensorflow")

import keras  # noqa: E402

from evaluation import synth  # noqa: E402
from evaluation.dataset import split_by_file  # noqa: E402
from models.convrnn import TIME_DISTRIBUTED_NAME  # noqa: E402
from models.training.data import make_dataset  # noqa: E402
from models.training.train import (  # noqa: E402
    box_attention_loss,
    build_or_resume,
    convrnn_only,
    train,
    training_model,
    usable_dataset,
)
from tests.conftest import REPO  # noqa: E402
from tests.test_train import tiny_config  # noqa: E402


def bright_box(image: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(image.max(axis=2) > 128)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


@pytest.mark.parametrize("flip", [False, True])
def test_an_augmented_box_still_frames_what_it_framed(flip):
    frame = np.zeros((90, 160, 3), np.uint8)
    box = (30, 20, 69, 59)
    frame[box[1] : box[3] + 1, box[0] : box[2] + 1] = 255
    augmentation = Augmentation(crop=(12, 8, 130, 75), flip=flip, gain=1.0, offset=0.0)
    picture = augmentation.frame(frame)
    assert picture.shape[:2] == augmentation.size
    assert augmentation.box(box) == bright_box(picture)


@pytest.mark.parametrize("flip", [False, True])
def test_a_box_still_frames_its_actor_in_a_wider_view(flip):
    frame = np.zeros((90, 160, 3), np.uint8)
    box = (30, 20, 69, 59)
    frame[box[1] : box[3] + 1, box[0] : box[2] + 1] = 255
    augmentation = Augmentation(
        crop=(12, 8, 130, 75), flip=flip, gain=1.0, offset=0.0, zoom=0.6, place=(40, 21)
    )
    picture = augmentation.frame(frame)
    assert picture.shape[:2] == augmentation.size
    moved = augmentation.box(box)
    assert moved[0] >= 40 and moved[1] >= 21  # on the shrunk picture, not where it was
    found = bright_box(picture)
    assert all(abs(a - b) <= 1 for a, b in zip(moved, found)), (moved, found)  # resampled edges


@pytest.mark.parametrize("kind", [STAMP, BAND])
def test_an_overlay_is_burned_in_alike_on_every_frame_of_a_window(kind):
    rng = np.random.default_rng(3)
    overlay = Overlay(kind, "2019-07-03 21:14:05", 3, 0.15, (255, 255, 255))
    augmentation = Augmentation(crop=(0, 0, 160, 90), flip=False, gain=1.0, offset=0.0, overlay=overlay)
    frames = [rng.integers(0, 60, (90, 160, 3), dtype=np.uint8) for _ in range(2)]  # dark, unlike
    pictures = [augmentation.frame(f) for f in frames]
    drawn = [p.max(axis=2) > 200 for p in pictures]  # what only the overlay can be
    assert drawn[0].sum() > 50
    # The same place in both (text edges are blended with what lies under them: a few pixels differ).
    assert (drawn[0] ^ drawn[1]).sum() < 0.05 * drawn[0].sum()
    rows = np.nonzero(drawn[0].any(axis=1))[0]
    assert rows.min() > 90 * 0.6  # a bottom corner or band, not over the scene's middle
    if kind == BAND:
        assert drawn[0][-1].all()  # the band spans the whole width


def test_scene_augmentation_widens_some_windows_and_stamps_some_leaving_the_basic_draw_alone():
    size = (240, 320)
    draws = [Augmentation.draw(size, np.random.default_rng([7, i]), scenes=True) for i in range(400)]
    basic = [Augmentation.draw(size, np.random.default_rng([7, i])) for i in range(400)]
    wider = sum(d.zoom < 1 for d in draws) / len(draws)
    stamped = sum(d.overlay is not None for d in draws) / len(draws)
    assert 0.3 < wider < 0.5 and 0.3 < stamped < 0.5
    assert {d.overlay.kind for d in draws if d.overlay} == {STAMP, BAND}
    # The same seed draws the same crop, flip and brightness: a recipe without scenes is unchanged.
    assert all(
        (d.crop, d.flip, d.gain, d.offset) == (b.crop, b.flip, b.gain, b.offset) for d, b in zip(draws, basic)
    )
    assert all(b.zoom == 1.0 and b.overlay is None for b in basic)


def test_a_box_marks_every_grid_cell_it_touches_and_no_other():
    mask = box_mask([(10, 0, 33, 15)], size=(64, 64), grid=(4, 4))  # cells are 16 px
    expected = np.zeros((4, 4), np.float32)
    expected[0, 0:3] = 1
    np.testing.assert_array_equal(mask, expected)
    assert not box_mask([], (64, 64), (4, 4)).any()


def test_box_loss_rewards_attention_inside_and_ignores_frames_without_boxes():
    masks = np.zeros((1, 2, 4, 4), np.float32)
    masks[0, 0, :2, :2] = 1  # frame 0 has a box of 4 cells; frame 1 has none
    inside = np.zeros((1, 2, 4, 4, 1), np.float32)
    inside[0, :, 0, 0] = 1
    uniform = np.full((1, 2, 4, 4, 1), 1 / 16, np.float32)
    outside = np.zeros((1, 2, 4, 4, 1), np.float32)
    outside[0, :, 3, 3] = 1
    loss = lambda attention: float(box_attention_loss(masks, attention)[0])  # noqa: E731
    assert loss(inside) == pytest.approx(0, abs=1e-3)
    assert loss(uniform) == pytest.approx(np.log(4), abs=1e-3)  # a quarter of the weight inside
    assert loss(outside) > 9
    assert float(box_attention_loss(np.zeros_like(masks), outside)[0]) == 0


@pytest.fixture(scope="module")
def boxed_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("boxed")
    synth.make_dataset(root, 6, seed=2, spec=synth.ClipSpec(width=96, height=96, fps=10.0, seconds=1.6))
    return root


def attention_inside(model, cfg) -> float:
    """The mean share of the head's attention inside the boxes, over validation frames with boxes."""
    data = usable_dataset(cfg)
    _, val = split_by_file(data.clips, cfg.val_fraction, cfg.seed)
    grid = tuple(model.get_layer(TIME_DISTRIBUTED_NAME).output.shape[2:4])
    dataset, _ = make_dataset(val, cfg.spec, cfg.batch, None, box_grid=grid)
    model = training_model(convrnn_only(model), frame_loss=False, box_loss=True)  # the head's attention
    shares = []
    for x, targets in dataset:
        masks = targets["attention"].numpy()
        attention = model(x, training=False)["attention"].numpy()[..., 0]
        has = masks.sum(axis=(2, 3)) > 0
        shares.extend((attention * masks).sum(axis=(2, 3))[has])
    assert shares, "no validation frame has a box"
    return float(np.mean(shares))


def test_training_with_the_box_loss_moves_the_attention_into_the_boxes(boxed_data, tmp_path):
    """The same run with and without the box loss: only the loss puts the attention on the actors."""
    from models.export import load_model

    inside = {}
    for weight in (0.0, 2.0):
        cfg = tiny_config(
            boxed_data,
            tmp_path / f"run{weight}",
            size=64,
            epochs=4,
            steps_per_epoch=20,
            pooling="attention",
            motion=True,
            box_loss=weight,
        )
        train(cfg)
        inside[weight] = attention_inside(load_model(tmp_path / f"run{weight}" / "best.keras"), cfg)
    keras.utils.set_random_seed(cfg.seed)
    untrained = attention_inside(
        build_or_resume(cfg, tmp_path / "untrained", ("normal", "fight", "shooting"))[0], cfg
    )
    assert inside[2.0] > untrained + 0.12, (untrained, inside)
    assert inside[2.0] > inside[0.0] + 0.12, (untrained, inside)
    manifest = (tmp_path / "run2.0" / "bundle" / "manifest.json").read_text()
    assert '"cam": "hirescam"' in manifest


def test_box_loss_without_attention_is_refused_in_one_line(boxed_data, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "vigil", "train", "--data", str(boxed_data), "--out", str(tmp_path / "r")]
        + ["--box-loss", "1", "--pooling", "max"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "vigil train: --box-loss needs --pooling attention: only attention can be told where to look"
    )
