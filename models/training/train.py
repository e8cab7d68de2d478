"""`vigil train`: a convRNN on a class-per-folder video data set, then its report and bundle."""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

from evaluation.dataset import Dataset, DatasetError, clip_windows, index_dataset, split_by_file
from evaluation.evaluate import evaluate, format_report
from models.convrnn import (
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

logger = logging.getLogger(__name__)

BEST, LAST, STATE, LOG = "best.keras", "last.keras", "state.json", "training_log.csv"


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
    frame_loss: float = 0.5
    augment: bool = True
    resume: bool = False
    steps_per_epoch: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def spec(self) -> WindowSpec:
        return WindowSpec(self.frames, (self.size, self.size), self.sample_fps, self.hop_seconds)


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


def class_weights(labels: list[int], n_classes: int) -> dict[int, float]:
    """Inverse-frequency weights (mean 1 over windows), so a rare class is not ignored."""
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    return {i: float(len(labels) / (n_classes * c)) if c else 0.0 for i, c in enumerate(counts)}


FRAME_OUTPUT = "frame_logits"


def with_frame_loss(model: keras.Model) -> keras.Model:
    """The convRNN plus a per-frame classifier on each frame's pooled activations, for training.

    The window label says what every frame of the window shows, so each frame can teach the
    backbone directly instead of only through the GRU: from scratch on a CPU this is what makes
    the backbone learn the events' look in tens of minutes. Exported bundles never contain it.
    """
    backbone_out = model.get_layer(TIME_DISTRIBUTED_NAME).output
    motion = head_options(split_convrnn(model)[1])["motion"]
    classes = classifier_of(model).units
    per_feature = [
        keras.layers.Dense(classes, name=f"aux_logits{i}")(f)
        for i, f in enumerate(pooled_frame_features(backbone_out, "max", motion, prefix="aux_"))
    ]
    frame_logits = per_feature[0] if len(per_feature) == 1 else keras.layers.Add()(per_feature)
    frame_logits = keras.layers.Identity(name=FRAME_OUTPUT)(frame_logits)
    return keras.Model(model.input, {"logits": model.output, FRAME_OUTPUT: frame_logits}, name=model.name)


def convrnn_only(model: keras.Model) -> keras.Model:
    """The deployable convRNN out of a training model (drops the per-frame classifier)."""
    if isinstance(model.output, dict):
        return keras.Model(model.input, model.output["logits"], name=model.name)
    return model


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
                    if key != "epoch" and value not in ("", None):
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
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if cfg.frame_loss > 0:
        model = with_frame_loss(model)
        model.compile(
            optimizer=keras.optimizers.Adam(cfg.learning_rate),
            loss={"logits": loss, FRAME_OUTPUT: loss},
            loss_weights={"logits": 1.0, FRAME_OUTPUT: cfg.frame_loss},
            metrics={"logits": ["accuracy"]},
        )
    else:
        model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss=loss, metrics=["accuracy"])
    return model, 0


def train(cfg: TrainConfig) -> dict:
    """Train, keep the best epoch by validation loss, export it, evaluate the bundle, write the report."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    data = usable_dataset(cfg)
    train_clips, val_clips = split_by_file(data.clips, cfg.val_fraction, cfg.seed)
    if not val_clips:
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
    train_data, steps = make_dataset(
        train_clips,
        cfg.spec,
        cfg.batch,
        cfg.seed,
        cfg.windows_per_clip,
        augment=cfg.augment,
        class_weights=weights,
        frame_labels=per_frame,
    )
    val_data, val_steps = make_dataset(val_clips, cfg.spec, cfg.batch, None, frame_labels=per_frame)
    logger.info(
        "%d train clips (%d windows/epoch), %d validation clips (%d windows); class weights %s",
        len(train_clips),
        len(labels),
        len(val_clips),
        count_windows(val_clips, cfg.spec, None),
        weights,
    )

    model, done = build_or_resume(cfg, out, data.classes)
    monitor = "val_logits_loss" if cfg.frame_loss > 0 else "val_loss"
    callbacks = [
        keras.callbacks.CSVLogger(str(out / LOG), append=done > 0),
        keras.callbacks.ModelCheckpoint(str(out / BEST), monitor=monitor, mode="min", save_best_only=True),
        keras.callbacks.EarlyStopping(monitor=monitor, mode="min", patience=cfg.patience),
        SaveState(out),
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
    """Export the best checkpoint, evaluate that bundle on the validation clips, write the report."""
    from models.export import load_model

    bundle_dir = export_bundle(convrnn_only(load_model(out / BEST)), out / "bundle")
    report = evaluate(
        open_bundle(bundle_dir, providers=("cpu",)),
        Dataset(data.classes, tuple(val_clips), data.skipped),
        cfg.hop_seconds,
    )
    history = {k.replace("logits_", ""): v for k, v in read_history(out / LOG).items()}
    report["epochs"] = len(history.get("loss", []))
    report["best_val_loss"] = min(history.get("val_loss", []), default=None)
    report["command"] = cfg.extra.get("command")
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.txt").write_text(format_report(report) + "\n")
    confusion_png(report["confusion"], report["classes"], out / "confusion.png")
    curves_png(history, out / "curves.png")
    manifest_path = bundle_dir / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest["metrics"] = {
        k: report[k]
        for k in ("accuracy", "windows", "per_class", "confusion", "explanation", "epochs", "command")
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(format_report(report))
    return report
