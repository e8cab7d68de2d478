"""`vigil train`: a convRNN on a class-per-folder video data set, then its report and bundle."""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

from evaluation.dataset import Dataset, DatasetError, clip_windows, index_dataset, split_by_file
from evaluation.evaluate import evaluate, format_report
from evaluation.groups import assign_groups, pattern_groups, read_group_file, split_by_group
from evaluation.sheet import ContactSheet
from models.convrnn import (
    ATTENTION,
    ATTENTION_LAYER,
    HEAD_NAME,
    TIME_DISTRIBUTED_NAME,
    build_convrnn,
    classifier_of,
    head_options,
    pooled_frame_features,
    split_convrnn,
)
from models.export import export_bundle
from models.training.data import WindowSpec, count_windows, make_dataset
from models.training.report import confusion_png, curves_png
from streamer.inference.bundle import MANIFEST_FILE, open_bundle
from streamer.inference.frames import BGR_INPUT

logger = logging.getLogger(__name__)

BEST, LAST, STATE, LOG = "best.keras", "last.keras", "state.json", "training_log.csv"
KEEP_BEST, KEEP_LAST = "best", "last"
SHEET = "validation_sheet.png"  # each validation clip at its evidence frame, to judge by eye


class TrainError(Exception):
    """Training options that cannot work together, or a starting model that does not fit."""


@dataclass(frozen=True)
class TrainConfig:
    data: str
    out: str
    backbone: str = "compact"
    frames: int = 8
    size: int = 128
    sample_fps: float = 5.0
    epochs: int = 30
    batch: int = 16
    learning_rate: float = 1e-3
    gru_units: int = 64
    dense_units: tuple[int, ...] = (64,)
    dropout: float = 0.3
    val_fraction: float = 0.2
    hop_seconds: float = 0.8
    windows_per_clip: int = 2
    patience: int = 6
    seed: int = 0
    weights: str | None = None
    normal_class: str = "normal"
    pooling: str = "avg"
    motion: bool = False
    input_coding: str = BGR_INPUT  # streamer/inference/frames.py: "bgr" or "motion"
    frame_loss: float = 0.5
    box_loss: float = 0.0
    readout: str = "last"
    augment: bool = True
    augment_scenes: bool = False  # also wider views and burned-in overlays (data.Augmentation)
    resume: bool = False
    backbone_from: str | None = None
    freeze_backbone: bool = False  # train the rest on the backbone's features as they are
    groups: str | None = None  # a group file (evaluation/groups.py)
    group_pattern: str | None = None
    folds: int = 0  # with groups: validate on fold `fold` of `folds`
    fold: int = 0
    steps_per_epoch: int | None = None
    keep: str = "best"  # best: the epoch with least validation loss; last: a fixed cosine schedule
    all_clips: bool = False  # train on every clip, validate on none (the final model after k-fold)
    also_train: str | None = None  # a second data set whose clips join the training side only
    extra: dict = field(default_factory=dict)

    @property
    def spec(self) -> WindowSpec:
        return WindowSpec(
            self.frames, (self.size, self.size), self.sample_fps, self.hop_seconds, self.input_coding
        )


def usable_dataset(cfg: TrainConfig) -> Dataset:
    """Index the data and drop clips too short for one window, naming each; refuse what cannot train."""
    data = index_dataset(cfg.data, cfg.normal_class)
    kept, skipped = [], list(data.skipped)
    for clip in data.clips:
        if clip_windows(clip, cfg.frames, cfg.sample_fps, cfg.hop_seconds):
            kept.append(clip)
        else:
            span = (cfg.frames - 1) / cfg.sample_fps
            line = (
                f"{clip.path}: shorter than a window ({cfg.frames} frames at {cfg.sample_fps} fps "
                f"= {span:.1f} s): skipped"
            )
            logger.warning("%s", line)
            skipped.append(line)
    for label, name in enumerate(data.classes):
        if not any(c.label == label for c in kept):
            raise DatasetError(f"{Path(cfg.data) / name}: no clip long enough for a window")
    return Dataset(data.classes, tuple(kept), tuple(skipped))


def training_extra(cfg: TrainConfig, classes: tuple[str, ...]) -> list:
    """--also-train's clips (its folders a subset of the data's classes), too-short ones dropped:
    they join every split's training side, never its validation, so the scores stay the data's."""
    if not cfg.also_train:
        return []
    extra = index_dataset(cfg.also_train, cfg.normal_class, classes=classes, subset=True)
    kept = [c for c in extra.clips if clip_windows(c, cfg.frames, cfg.sample_fps, cfg.hop_seconds)]
    logger.info("--also-train %s: %d clips on the training side", cfg.also_train, len(kept))
    return kept


def split(cfg: TrainConfig, data: Dataset) -> tuple[list, list]:
    """(train, validation) clips: by group when the data set says which clips belong together
    (--groups / --group-pattern; --folds for k-fold), else by file."""
    if not (cfg.groups or cfg.group_pattern):
        if cfg.folds:
            raise TrainError("--folds needs --groups or --group-pattern: folds are made of whole groups")
        return split_by_file(data.clips, cfg.val_fraction, cfg.seed)
    named = read_group_file(cfg.groups) if cfg.groups else pattern_groups(data.clips, cfg.group_pattern)
    groups = assign_groups(data.clips, named)
    train_clips, val_clips = split_by_group(
        data.clips, groups, cfg.val_fraction, cfg.seed, cfg.fold, cfg.folds, data.classes
    )
    validation = {id(c) for c in val_clips}
    logger.info(
        "split by group: %d groups, %d in validation (%d clips)",
        len(set(groups)),
        len({g for c, g in zip(data.clips, groups) if id(c) in validation}),
        len(val_clips),
    )
    return train_clips, val_clips


def class_weights(labels: list[int], n_classes: int) -> dict[int, float]:
    """Inverse-frequency weights (mean 1 over windows), so a rare class is not ignored."""
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    return {i: float(len(labels) / (n_classes * c)) if c else 0.0 for i, c in enumerate(counts)}


FRAME_OUTPUT = "frame_logits"
ATTENTION_OUTPUT = ATTENTION
GUIDED_HEAD_NAME = "head_guided"


def frame_logits(model: keras.Model, backbone_out) -> keras.KerasTensor:
    """A per-frame classifier on each frame's max-pooled activations, for training only.

    The window label says what every frame of the window shows, so each frame can teach the
    backbone directly instead of only through the GRU: from scratch on a CPU this is what makes
    the backbone learn the events' look in tens of minutes. Exported bundles never contain it.
    """
    motion = head_options(split_convrnn(model)[1])["motion"]
    classes = classifier_of(model).units
    per_feature = [
        keras.layers.Dense(classes, name=f"aux_logits{i}")(f)
        for i, f in enumerate(pooled_frame_features(backbone_out, "max", motion, prefix="aux_"))
    ]
    logits = per_feature[0] if len(per_feature) == 1 else keras.layers.Add()(per_feature)
    return keras.layers.Identity(name=FRAME_OUTPUT)(logits)


def training_model(model: keras.Model, frame_loss: bool, box_loss: bool) -> keras.Model:
    """The convRNN with what its training losses read besides the window's logits: the per-frame
    logits (frame_loss) and the head's attention weights over each frame's locations (box_loss).

    The attention comes out of the head itself (a second output of the same layers), so the box
    loss shapes the very weights the deployed head pools with."""
    backbone, head = model.get_layer(TIME_DISTRIBUTED_NAME), split_convrnn(model)[1]
    # A fresh graph from a new input: the layers may already sit in other graphs (convrnn_only's),
    # where their .output would name another call.
    window = fresh_window(model)
    backbone_out = backbone(window)
    outputs = {}
    if box_loss:
        guided = keras.Model(
            head.input,
            {"logits": head.output, ATTENTION_OUTPUT: head.get_layer(ATTENTION_LAYER).output},
            name=GUIDED_HEAD_NAME,
        )
        outputs.update(guided(backbone_out))
    else:
        outputs["logits"] = head(backbone_out)
    if frame_loss:
        outputs[FRAME_OUTPUT] = frame_logits(model, backbone_out)
    return keras.Model(window, outputs, name=model.name)


def convrnn_only(model: keras.Model) -> keras.Model:
    """The deployable convRNN out of a training model: the backbone and the head, nothing else."""
    if not isinstance(model.output, dict):
        return model
    backbone = model.get_layer(TIME_DISTRIBUTED_NAME)
    try:
        head = model.get_layer(HEAD_NAME)
    except ValueError:
        guided = model.get_layer(GUIDED_HEAD_NAME)
        head = keras.Model(guided.input, guided.output["logits"], name=HEAD_NAME)
    window = fresh_window(model)
    return keras.Model(window, head(backbone(window)), name=model.name)


def fresh_window(model: keras.Model) -> keras.KerasTensor:
    """A new input like the model's, to rebuild a graph from its layers."""
    return keras.Input(model.input.shape[1:], dtype=model.input.dtype, name="frames")


@keras.saving.register_keras_serializable(package="vigil")
def box_attention_loss(masks, attention):
    """-log(the attention's share inside the actors' boxes), averaged over the frames that have
    boxes (masks [B, T, h, w], all zero on frames without; attention [B, T, h, w, 1]).

    "Right for the right reasons" (Ross et al. 2017), put on the head's attention rather than on
    input gradients: a CPU can afford it, and the head pools only where the attention is."""
    # Keras may already have squeezed the attention's last axis to match the masks' rank.
    inside = keras.ops.sum(masks * keras.ops.reshape(attention, keras.ops.shape(masks)), axis=(2, 3))
    has_box = keras.ops.cast(keras.ops.sum(masks, axis=(2, 3)) > 0, "float32")
    per_frame = -keras.ops.log(inside + 1e-4) * has_box
    return keras.ops.sum(per_frame, axis=-1) / keras.ops.maximum(keras.ops.sum(has_box, axis=-1), 1.0)


class SaveState(keras.callbacks.Callback):
    """After each epoch: last.keras (with optimizer state) and the epoch number, for --resume."""

    def __init__(self, out: Path):
        super().__init__()
        self.out = out

    def on_epoch_end(self, epoch, logs=None):
        self.model.save(self.out / LAST)
        (self.out / STATE).write_text(json.dumps({"epochs_done": epoch + 1}))


def read_history(path: Path) -> dict[str, list[float]]:
    history: dict[str, list[float]] = {}
    if path.is_file():
        with open(path) as f:
            for row in csv.DictReader(f):
                for key, value in row.items():
                    if key != "epoch" and value not in ("", "NA", None):  # NA: Keras' missing value
                        history.setdefault(key, []).append(float(value))
    return history


def build_or_resume(cfg: TrainConfig, out: Path, classes: tuple[str, ...]) -> tuple[keras.Model, int]:
    if cfg.resume and (out / LAST).is_file():
        done = json.loads((out / STATE).read_text())["epochs_done"] if (out / STATE).is_file() else 0
        logger.info("resuming %s after epoch %d", out / LAST, done)
        return keras.models.load_model(out / LAST), done
    keras.utils.set_random_seed(cfg.seed)
    model = build_convrnn(
        cfg.backbone,
        frames=cfg.frames,
        input_size=(cfg.size, cfg.size),
        classes=classes,
        normal_class=cfg.normal_class,
        sample_fps=cfg.sample_fps,
        gru_units=cfg.gru_units,
        dense_units=cfg.dense_units,
        dropout=cfg.dropout,
        weights=cfg.weights,
        pooling=cfg.pooling,
        motion=cfg.motion,
        readout=cfg.readout,
        input_coding=cfg.input_coding,
    )
    if cfg.backbone_from:
        copy_backbone(cfg.backbone_from, model)
    if cfg.freeze_backbone:
        split_convrnn(model)[0].trainable = False
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if cfg.frame_loss > 0 or cfg.box_loss > 0:
        model = training_model(model, cfg.frame_loss > 0, cfg.box_loss > 0)
        losses, weights = {"logits": loss}, {"logits": 1.0}
        if cfg.frame_loss > 0:
            losses[FRAME_OUTPUT], weights[FRAME_OUTPUT] = loss, cfg.frame_loss
        if cfg.box_loss > 0:
            losses[ATTENTION_OUTPUT], weights[ATTENTION_OUTPUT] = box_attention_loss, cfg.box_loss
        model.compile(
            optimizer=keras.optimizers.Adam(cfg.learning_rate),
            loss=losses,
            loss_weights=weights,
            metrics={"logits": ["accuracy"]},
        )
    else:
        model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss=loss, metrics=["accuracy"])
    return model, 0


def copy_backbone(source: str, model: keras.Model) -> None:
    """Start from the backbone of a trained convRNN (its model.keras): its per-frame features,
    which only mean something on frames coded as it was trained on."""
    from models.export import load_model

    whole = convrnn_only(load_model(Path(source)))
    theirs, ours = classifier_of(whole).input_coding, classifier_of(model).input_coding
    if theirs != ours:
        raise TrainError(
            f"--backbone-from {source}: its backbone was trained on {theirs!r} input, this run's is "
            f"{ours!r} (add --input {theirs})"
        )
    trained = split_convrnn(whole)[0]
    target = split_convrnn(model)[0]
    try:
        target.set_weights(trained.get_weights())
    except ValueError as err:
        raise TrainError(f"--backbone-from {source}: a different backbone ({err})") from None
    logger.info("backbone weights from %s", source)


def cosine_schedule(learning_rate: float, epochs: int):
    """Epoch -> learning rate falling from learning_rate towards 0 along half a cosine: the last
    epoch ends settled, so it can be kept without validation choosing it."""

    def rate(epoch: int, _current: float = 0.0) -> float:
        return float(learning_rate * 0.5 * (1 + math.cos(math.pi * epoch / max(1, epochs))))

    return rate


def train(cfg: TrainConfig) -> dict:
    """Train, keep the best epoch by validation loss, export it, evaluate the bundle, write the report."""
    if cfg.box_loss > 0 and cfg.pooling != ATTENTION:
        raise TrainError(f"--box-loss needs --pooling {ATTENTION}: only attention can be told where to look")
    if cfg.keep not in (KEEP_BEST, KEEP_LAST):
        raise TrainError(f"--keep: expected {KEEP_BEST} or {KEEP_LAST}, got {cfg.keep!r}")
    if cfg.all_clips and (cfg.keep != KEEP_LAST or cfg.folds):
        raise TrainError(
            "--all-clips needs --keep last and no --folds: with no validation clips nothing can choose "
            "an epoch, and the scores come from a k-fold run with the same settings"
        )
    if cfg.backbone_from and not Path(cfg.backbone_from).is_file():
        raise TrainError(f"--backbone-from {cfg.backbone_from}: no such model file")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    data = usable_dataset(cfg)
    train_clips, val_clips = (list(data.clips), []) if cfg.all_clips else split(cfg, data)
    train_clips += training_extra(cfg, data.classes)
    if not val_clips and not cfg.all_clips:
        raise DatasetError(f"{cfg.data}: too few clips for a validation split")
    (out / "config.json").write_text(json.dumps({**asdict(cfg), "classes": list(data.classes)}, indent=2))

    labels = [
        c.label
        for c in train_clips
        for _ in range(
            min(cfg.windows_per_clip, len(clip_windows(c, cfg.frames, cfg.sample_fps, cfg.hop_seconds)))
        )
    ]
    weights = class_weights(labels, len(data.classes))
    per_frame = cfg.frames if cfg.frame_loss > 0 else None
    model, done = build_or_resume(cfg, out, data.classes)
    grid = tuple(model.get_layer(TIME_DISTRIBUTED_NAME).output.shape[2:4]) if cfg.box_loss > 0 else None
    train_data, steps = make_dataset(
        train_clips,
        cfg.spec,
        cfg.batch,
        cfg.seed,
        cfg.windows_per_clip,
        augment=cfg.augment,
        class_weights=weights,
        frame_labels=per_frame,
        box_grid=grid,
        scenes=cfg.augment and cfg.augment_scenes,
    )
    val_data, val_steps = (
        make_dataset(val_clips, cfg.spec, cfg.batch, None, frame_labels=per_frame, box_grid=grid)
        if val_clips
        else (None, None)
    )
    logger.info(
        "%d train clips (%d windows/epoch), %d validation clips (%d windows); class weights %s",
        len(train_clips),
        len(labels),
        len(val_clips),
        count_windows(val_clips, cfg.spec, None),
        weights,
    )

    callbacks = []  # the schedule first: it puts the rate in the logs the CSV logger writes
    if cfg.keep == KEEP_LAST:
        callbacks.append(
            keras.callbacks.LearningRateScheduler(cosine_schedule(cfg.learning_rate, cfg.epochs))
        )
    callbacks += [keras.callbacks.CSVLogger(str(out / LOG), append=done > 0), SaveState(out)]
    if cfg.keep != KEEP_LAST:
        monitor = "val_logits_loss" if isinstance(model.output, dict) else "val_loss"
        callbacks += [
            keras.callbacks.ModelCheckpoint(
                str(out / BEST), monitor=monitor, mode="min", save_best_only=True
            ),
            keras.callbacks.EarlyStopping(monitor=monitor, mode="min", patience=cfg.patience),
        ]
    if done < cfg.epochs:
        # Class weights travel as per-window sample weights (Keras' class_weight is single-output only).
        model.fit(
            train_data,
            epochs=cfg.epochs,
            initial_epoch=done,
            steps_per_epoch=cfg.steps_per_epoch or steps,
            validation_data=val_data,
            validation_steps=val_steps,
            callbacks=callbacks,
            verbose=1,
        )
    return finish(cfg, out, data, val_clips)


def finish(cfg: TrainConfig, out: Path, data: Dataset, val_clips) -> dict:
    """Export the kept checkpoint, evaluate that bundle on the validation clips (if any), write the report."""
    from models.export import load_model

    kept = out / (LAST if cfg.keep == KEEP_LAST else BEST)
    bundle_dir = export_bundle(convrnn_only(load_model(kept)), out / "bundle")
    history = {k.replace("logits_", ""): v for k, v in read_history(out / LOG).items()}
    if val_clips:
        report = validation_report(bundle_dir, out, data, val_clips, cfg.hop_seconds)
        keys = ("accuracy", "windows", "per_class", "confusion", "explanation", "epochs", "command")
    else:
        report = {"classes": list(data.classes), "validation": "none: trained on every clip (--all-clips)"}
        keys = ("validation", "epochs", "command")
    report["epochs"] = len(history.get("loss", []))
    report["best_val_loss"] = min(history.get("val_loss", []), default=None)
    report["command"] = cfg.extra.get("command")
    report["validation_clips"] = sorted(str(Path(c.path).relative_to(cfg.data)) for c in val_clips)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    curves_png(history, out / "curves.png")
    manifest_path = bundle_dir / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest["metrics"] = {k: report[k] for k in keys}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    if val_clips:
        (out / "report.txt").write_text(format_report(report) + "\n")
        confusion_png(report["confusion"], report["classes"], out / "confusion.png")
        print(format_report(report))
    else:
        print(
            f"{bundle_dir}: trained on all {len(data.clips)} clips, {report['epochs']} epochs; no validation"
        )
    return report


def validation_report(bundle_dir: Path, out: Path, data: Dataset, val_clips, hop_seconds: float) -> dict:
    """The exported bundle scored on the validation clips, and their contact sheet written."""
    bundle = open_bundle(bundle_dir, providers=("cpu",))
    sheet = ContactSheet(bundle)
    report = evaluate(bundle, Dataset(data.classes, tuple(val_clips), data.skipped), hop_seconds, sheet=sheet)
    sheet.write(out / SHEET)
    return report
