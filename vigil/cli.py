"""The `vigil` command: one entry point, one small function per subcommand.

Subcommands that need TensorFlow (export) import the `models` package inside their function, so
`vigil --help`, `vigil check-config` and the runtime never load it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np

from streamer.inference.frames import BGR_INPUT, INPUT_CODINGS
from vigil import __version__

logger = logging.getLogger("vigil")

DEFAULT_CONFIG = "config.toml"
CONFIG_ERROR = "vigil: config error:"
TRAIN_EXTRA = ".venv/bin/pip install -e '.[train]'   (or: make venv-all)"


def needs_train_extra(command: str) -> bool:
    """True, after one line saying what to install, when TensorFlow is missing: `make run` installs
    the runtime alone, and an import traceback tells a guard nothing."""
    if importlib.util.find_spec("tensorflow") is not None and importlib.util.find_spec("tf2onnx") is not None:
        return False
    print(
        f"vigil {command}: needs the 'train' extra (TensorFlow, tf2onnx), not in this install: {TRAIN_EXTRA}",
        file=sys.stderr,
    )
    return True


def load_checked_config(path: str):
    """The config, checked as `vigil run` checks it at start (one home for both commands)."""
    from streamer.config import ConfigError, load_config
    from streamer.preflight import check_startable

    config = load_config(path)
    try:
        check_startable(config)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    return config


def cmd_check_config(args) -> int:
    from streamer.config import ConfigError

    try:
        config = load_checked_config(args.path)
    except ConfigError as err:
        print(f"{CONFIG_ERROR} {err}", file=sys.stderr)
        return 1
    enabled = sum(c.enabled for c in config.cameras)
    sinks = ["mqtt"] * config.sinks.mqtt.enabled + [h.name for h in config.sinks.webhooks if h.enabled]
    print(
        f"{args.path}: OK ({enabled} camera(s) enabled, bundle {config.model.bundle}, "
        f"alert sinks: {', '.join(sinks) or 'none'})"
    )
    return 0


def cmd_quantize(args) -> int:
    if needs_train_extra("quantize"):
        return 1
    from models.quantize import QuantizeError, quantize_bundle
    from streamer.inference.bundle import BundleError

    try:
        report = quantize_bundle(
            Path(args.bundle), Path(args.out), Path(args.calibration), args.frames, args.check
        )
    except (QuantizeError, BundleError) as err:
        print(f"vigil quantize: {err}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2))
    return 0


def cmd_export(args) -> int:
    if args.triton:
        return export_triton(args)
    if args.out is None:
        print(
            "vigil export: give --out DIR (a bundle) or --triton DIR (a Triton repository)", file=sys.stderr
        )
        return 2
    if needs_train_extra("export"):
        return 1
    from models.export import ExportError, export_bundle

    if args.new:
        from models.convrnn import build_convrnn

        model = build_convrnn(
            args.new, frames=args.frames, input_size=(args.size, args.size), weights=args.weights
        )
    elif args.model:
        model = args.model
    else:
        print("vigil export: give MODEL.keras or --new BACKBONE", file=sys.stderr)
        return 2
    metrics = json.loads(Path(args.metrics).read_text()) if args.metrics else None
    try:
        out = export_bundle(model, args.out, opset=args.opset, metrics=metrics, cam=args.cam)
    except ExportError as err:
        print(f"vigil export: {err}", file=sys.stderr)
        return 1
    report = json.loads((out / "manifest.json").read_text())["verification"]
    print(f"{out}: bundle written; ONNX vs Keras max relative error {report['max_relative_error']:.1e}")
    return 0


def export_triton(args) -> int:
    """A bundle as a Triton model repository: the 'remote' extra (tritonclient, onnx), no TensorFlow."""
    if importlib.util.find_spec("tritonclient") is None or importlib.util.find_spec("onnx") is None:
        print(
            "vigil export --triton: needs the 'remote' extra (tritonclient, onnx), not in this install: "
            ".venv/bin/pip install -e '.[remote]'",
            file=sys.stderr,
        )
        return 1
    from streamer.inference.bundle import BundleError
    from streamer.serving.repository import write_repository

    if not args.model:
        print("vigil export --triton: give the BUNDLE directory to export", file=sys.stderr)
        return 2
    try:
        report = write_repository(args.model, args.triton, tensorrt_fp16=args.tensorrt_fp16)
    except BundleError as err:
        print(f"vigil export: {err}", file=sys.stderr)
        return 1
    print(
        f"{args.triton}: {report.backbone.name} and {report.head.name} written; configs parse as Triton's "
        f"ModelConfig and match the graphs; answers as the bundle's within {report.max_abs_difference:.1e}"
    )
    return 0


def read_window(video: str, manifest) -> np.ndarray:
    """The first window of a video as the bundle's input: T frames sampled at its fps, resized and
    coded the way the trainer and the monitor do it (uint8 [T, H, W, 3])."""
    from evaluation.dataset import DatasetError, open_clip, read_frames, window_at

    model_input = manifest.model_input
    try:
        clip = open_clip(video)
        indices = model_input.sources(window_at(clip, manifest.frames, manifest.sample_fps, 0), clip.fps)
        decoded = read_frames(Path(video), set(indices), size=None)
    except DatasetError as err:
        raise ValueError(str(err)) from None
    return model_input.encode([decoded[i] for i in indices])


TRITON_PYTHON_ENV = "VIGIL_TRITON_PYTHON"
TRITON_VENV = ".venv-triton"


def triton_python() -> Path | None:
    """The Python of Triton's own environment: $VIGIL_TRITON_PYTHON, else the checkout's
    .venv-triton (`make venv-triton`)."""
    named = os.environ.get(TRITON_PYTHON_ENV)
    path = Path(named) if named else Path(__file__).resolve().parent.parent / TRITON_VENV / "bin" / "python"
    return path if path.is_file() else None


def cmd_serve(args) -> int:
    if importlib.util.find_spec("pytriton") is None:  # PyTriton pins numpy<2: it lives in its own venv
        python = triton_python()
        if python is None:
            print(
                f"vigil serve: Triton's Python environment was not found (no {TRITON_VENV}/ in the "
                f"checkout, ${TRITON_PYTHON_ENV} unset): run `make venv-triton`",
                file=sys.stderr,
            )
            return 1
        os.execv(python, [str(python), "-m", "vigil", *args.argv])  # the same command line there
    from streamer.inference.bundle import BundleError
    from streamer.inference.providers import parse_providers
    from streamer.serving.triton_server import ServeOptions, serve

    try:
        return serve(
            args.bundle,
            ServeOptions(
                host=args.host,
                grpc_port=args.grpc_port,
                http_port=args.http_port,
                metrics_port=args.metrics_port,
                providers=parse_providers(args.providers),
                threads=args.threads,
            ),
        )
    except (BundleError, ValueError) as err:
        print(f"vigil serve: {err}", file=sys.stderr)
        return 1


def cmd_inspect(args) -> int:
    """Open a bundle with the runtime alone and explain one window: proves the bundle end to end."""
    from streamer.inference.bundle import BundleError, open_bundle
    from streamer.inference.providers import parse_providers

    try:
        bundle = open_bundle(args.bundle, providers=parse_providers(args.providers))
    except (BundleError, ValueError) as err:
        print(f"vigil inspect: {err}", file=sys.stderr)
        return 1
    m = bundle.manifest
    if args.video:
        try:
            window = read_window(args.video, m)
        except ValueError as err:
            print(f"vigil inspect: {err}", file=sys.stderr)
            return 1
    else:
        window = np.random.default_rng(0).integers(0, 256, (m.frames, *m.input_size, 3), dtype=np.uint8)
    split = bundle.head(bundle.backbone(window))
    full = bundle.full(window)
    peaks = [np.unravel_index(int(np.argmax(c)), c.shape) for c in split.cam]
    summary = {
        "bundle": str(args.bundle),
        "provider": bundle.provider,
        "backbone": m.backbone,
        "frames": m.frames,
        "input_size": list(m.input_size),
        "cam_size": list(m.activation_shape[:2]),
        "probs": {c: round(float(p), 4) for c, p in zip(m.classes, split.probs)},
        "explained_class": m.classes[split.cam_class],
        "cam_peak_per_frame": [f"{int(y)},{int(x)}" for y, x in peaks],
        "split_vs_full_max_abs_diff": float(np.abs(split.cam - full.cam).max()),
    }
    print(json.dumps(summary, indent=2))
    return 0


def cmd_synth(args) -> int:
    from evaluation import synth

    if args.demo:
        seed = synth.DEMO_SEED if args.seed is None else args.seed
        sidecar = synth.make_demo(args.demo, seed=seed, footage=args.footage)
        spans = ", ".join(f"{e['label']} {e['start']}-{e['end']}" for e in sidecar["events"])
        print(f"{args.demo}: {sidecar['frames']} frames at {sidecar['fps']} fps; events (frames): {spans}")
        return 0
    if not args.out:
        print("vigil synth: give --out DIR (clips) or --demo OUT.mp4", file=sys.stderr)
        return 2
    spec = synth.ClipSpec(args.width, args.height, args.fps, args.seconds, mixed_aspect=args.mixed_aspect)
    paths = synth.make_dataset(args.out, args.clips, args.seed or 0, spec, args.footage, args.workers)
    print(f"{args.out}: {len(paths)} clips ({args.clips} per class: {', '.join(synth.CLASSES)})")
    return 0


def cmd_train(args) -> int:
    if needs_train_extra("train"):
        return 1
    from evaluation.dataset import DatasetError
    from models.export import ExportError
    from models.training.train import TrainConfig, TrainError, train

    cfg = TrainConfig(
        data=args.data,
        out=args.out,
        backbone=args.backbone,
        frames=args.frames,
        size=args.size,
        sample_fps=args.fps,
        epochs=args.epochs,
        batch=args.batch,
        learning_rate=args.lr,
        gru_units=args.gru_units,
        dense_units=tuple(args.dense),
        dropout=args.dropout,
        windows_per_clip=args.windows_per_clip,
        hop_seconds=args.hop,
        patience=args.patience,
        seed=args.seed,
        weights=args.weights,
        resume=args.resume,
        steps_per_epoch=args.steps_per_epoch,
        keep=args.keep,
        all_clips=args.all_clips,
        also_train=args.also_train,
        pooling=args.pooling,
        motion=args.motion,
        input_coding=args.input,
        augment=not args.no_augment,
        augment_scenes=args.augment_scenes,
        frame_loss=args.frame_loss,
        box_loss=args.box_loss,
        readout=args.readout,
        backbone_from=args.backbone_from,
        freeze_backbone=args.freeze_backbone,
        groups=args.groups,
        group_pattern=args.group_pattern,
        folds=args.folds,
        fold=args.fold,
        extra={"command": "vigil " + " ".join(sys.argv[1:])},
    )
    try:
        train(cfg)
    except (DatasetError, ExportError, TrainError) as err:
        print(f"vigil train: {err}", file=sys.stderr)
        return 1
    return 0


def cmd_evaluate(args) -> int:
    from evaluation.dataset import DatasetError, index_dataset, parse_class_map
    from evaluation.evaluate import evaluate, format_report
    from evaluation.sheet import ContactSheet
    from streamer.inference.bundle import BundleError, open_bundle
    from streamer.inference.providers import parse_providers

    try:
        class_map = parse_class_map(args.class_map)
        bundle = open_bundle(args.bundle, providers=parse_providers(args.providers))
        m = bundle.manifest
        data = index_dataset(args.data, m.normal_class, classes=m.classes, class_map=class_map, subset=True)
        sheet = ContactSheet(bundle) if args.sheet else None
        report = evaluate(
            bundle,
            data,
            hop_seconds=args.hop,
            margin=args.margin,
            deletion_windows=args.deletion_windows,
            sheet=sheet,
        )
        if sheet is not None:
            print(f"{sheet.write(args.sheet)}: {len(sheet.tiles)} clips, each at its evidence frame")
    except (BundleError, DatasetError, ValueError, OSError) as err:
        print(f"vigil evaluate: {err}", file=sys.stderr)
        return 1
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


def cmd_folds(args) -> int:
    from evaluation.folds import FoldsError, format_summary, summarise

    try:
        summary = summarise(args.runs)
    except FoldsError as err:
        print(f"vigil folds: {err}", file=sys.stderr)
        return 1
    print(format_summary(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


def cmd_explain(args) -> int:
    if needs_train_extra("explain"):
        return 1
    from evaluation.dataset import DatasetError
    from explain.job import ExplainOptions, format_methods, run_compare_methods, run_explain
    from explain.windows import ExplainError
    from models.export import ExportError

    opts = ExplainOptions(
        bundle=args.bundle,
        video=args.video,
        out=args.out,
        window_index=args.window_index,
        start=args.start,
        every=args.all,
        classes=args.target or [],
        methods=tuple(args.methods or ()),
        compare=args.compare or [],
        hop_seconds=args.hop,
        smooth_samples=args.smooth_samples,
        limit=args.limit,
    )
    try:
        if args.compare_methods:
            table = run_compare_methods(opts)
            print(format_methods(table))
            Path(args.out).mkdir(parents=True, exist_ok=True)
            (Path(args.out) / "methods.json").write_text(json.dumps(table, indent=2) + "\n")
            return 0
        result = run_explain(opts)
    except (ExplainError, DatasetError, ExportError, ValueError, OSError) as err:
        print(f"vigil explain: {err}", file=sys.stderr)
        return 1
    print(f"{result['report']}: {result['windows']} window(s) explained, {len(result['files'])} files")
    return 0


def cmd_run(args) -> int:
    from streamer.config import ConfigError, load_config
    from streamer.inference.bundle import BundleError
    from streamer.monitor import run

    try:
        config = load_config(args.config)
    except ConfigError as err:
        print(f"{CONFIG_ERROR} {err}", file=sys.stderr)
        return 1
    try:
        return run(config, seconds=args.seconds)
    except ConfigError as err:  # build_monitor runs check-config's checks; then the metrics port
        print(f"{CONFIG_ERROR} {args.config}: {err}", file=sys.stderr)
        return 1
    except (BundleError, ValueError, OSError) as err:
        print(f"vigil run: {err}", file=sys.stderr)
        return 1


def users_file(args) -> Path:
    """--file, or the console.users_file of --config."""
    if args.file:
        return Path(args.file)
    from streamer.config import load_config

    config = load_config(args.config)
    return config.resolve(config.console.users_file)


def read_new_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def cmd_users(args) -> int:
    """The console's users file: add (or change) a user, remove one, list them (never a hash)."""
    from streamer.config import ConfigError
    from streamer.console.users import UserError, read_users, remove_user, set_user

    if args.action != "list" and not args.name:
        print(f"vigil users {args.action}: a user name is needed", file=sys.stderr)
        return 2
    try:
        path = users_file(args)
        if args.action == "add":
            set_user(path, args.name, args.role, read_new_password(args.password_stdin))
            print(f"{path}: {args.name} ({args.role}) saved")
        elif args.action == "remove":
            remove_user(path, args.name)
            print(f"{path}: {args.name} removed")
        else:
            for user in read_users(path).values():
                print(f"{user.name}\t{user.role}")
    except (ConfigError, UserError, ValueError, OSError) as err:
        print(f"vigil users: {err}", file=sys.stderr)
        return 1
    return 0


class HelpWithDefaults(argparse.HelpFormatter):
    """Every option's help ends with its default, unless it has none to show (None, a flag off)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" in text
            or default in (None, False, argparse.SUPPRESS)
            or not action.option_strings
            and action.nargs != "?"
        ):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, list | tuple) else default
        return f"{text} (default: {shown})"


PROVIDERS_HELP = "ONNX Runtime providers to allow, comma-separated, tried in this order"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigil",
        description="Explainable real-time anomaly monitor for CCTV.",
        formatter_class=HelpWithDefaults,
    )
    parser.add_argument("--version", action="version", version=f"vigil {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="debug logging, FFmpeg's and OpenCV's own messages included",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text, formatter_class=HelpWithDefaults)

    p = command("run", "the live monitor: capture, explain, alert (see config.toml)")
    p.add_argument("--config", default=DEFAULT_CONFIG, metavar="FILE", help="the monitor's TOML config")
    p.add_argument(
        "--seconds",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds (demos, tests); default: run until stopped",
    )
    p.set_defaults(func=cmd_run)

    p = command("users", "the web console's users: add (or change), remove, list")
    p.add_argument(
        "action", choices=("add", "remove", "list"), help="add (or change) a user, remove one, or list them"
    )
    p.add_argument("name", nargs="?", help="the user name (add, remove)")
    p.add_argument(
        "--role",
        choices=("viewer", "reviewer", "admin"),
        default="viewer",
        help="with add: viewer (watch), reviewer (also mark alerts), admin (also export)",
    )
    p.add_argument("--file", metavar="FILE", help="the users file; default: console.users_file of --config")
    p.add_argument("--config", default=DEFAULT_CONFIG, metavar="FILE", help="the monitor's TOML config")
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input (scripts)"
    )
    p.set_defaults(func=cmd_users)

    p = command(
        "check-config", "check a config as `vigil run` would at start, without starting (exit 0 or 1)"
    )
    p.add_argument("path", nargs="?", default=DEFAULT_CONFIG, metavar="FILE", help="the TOML config to check")
    p.set_defaults(func=cmd_check_config)

    p = command(
        "export",
        "export a Keras convRNN to a bundle (needs the 'train' extra), or a bundle to a Triton model "
        "repository (--triton; needs the 'remote' extra)",
    )
    p.add_argument(
        "model",
        nargs="?",
        metavar="MODEL.keras|BUNDLE",
        help="the trained model (or, with --triton, the bundle)",
    )
    p.add_argument("--out", metavar="DIR", help="bundle directory to write")
    p.add_argument(
        "--triton",
        metavar="DIR",
        help="write BUNDLE's backbone and head into this Triton model repository instead (onnxruntime "
        "backend, dynamic batching for the backbone), checked against the bundle",
    )
    p.add_argument(
        "--tensorrt-fp16",
        action="store_true",
        help="with --triton: the backbone through TensorRT in FP16 on the server's GPU (the head stays FP32)",
    )
    p.add_argument(
        "--new",
        metavar="BACKBONE",
        choices=("vgg19", "mobilenetv2", "compact"),
        help="export a fresh untrained model with this backbone (vgg19, mobilenetv2, compact) "
        "instead of MODEL.keras",
    )
    p.add_argument("--frames", type=int, default=16, metavar="T", help="frames per window, with --new")
    p.add_argument("--size", type=int, default=128, metavar="PX", help="input size in pixels, with --new")
    p.add_argument(
        "--weights",
        default=None,
        metavar="W",
        help="backbone weights with --new: 'imagenet' or a file; default: random",
    )
    p.add_argument("--opset", type=int, default=17, metavar="N", help="ONNX opset")
    p.add_argument("--metrics", metavar="FILE", help="JSON file of training metrics to put in the manifest")
    p.add_argument(
        "--cam",
        choices=("gradcam", "hirescam"),
        default=None,
        help="the bundle's CAM; default: Grad-CAM, or HiResCAM for a max-pooling head",
    )
    p.set_defaults(func=cmd_export)

    p = command(
        "quantize",
        "an INT8 copy of a bundle's backbone, calibrated on your footage; the head stays FP32 "
        "(needs the 'train' extra)",
    )
    p.add_argument("bundle", metavar="BUNDLE", help="the FP32 bundle")
    p.add_argument("--calibration", required=True, metavar="DIR", help="videos of the site's own cameras")
    p.add_argument("--out", required=True, metavar="DIR", help="the INT8 bundle to write (a new folder)")
    p.add_argument("--frames", type=int, default=400, metavar="N", help="calibration frames, at most")
    p.add_argument("--check", type=int, default=24, metavar="N", help="held-out windows to compare on")
    p.set_defaults(func=cmd_quantize)

    p = command("synth", "generate labelled synthetic CCTV clips, or the demo video")
    p.add_argument(
        "--out", metavar="DIR", help="data set folder to write: DIR/<class>/<id>.mp4 + .json ground truth"
    )
    p.add_argument("--demo", metavar="OUT.mp4", help="write the ~60 s 1280x720 demo video instead")
    p.add_argument("--clips", type=int, default=100, metavar="N", help="clips per class")
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="S",
        help="random seed; default: 0 for a data set, synth.DEMO_SEED for the demo",
    )
    p.add_argument("--width", type=int, default=192, metavar="PX", help="clip width")
    p.add_argument("--height", type=int, default=144, metavar="PX", help="clip height")
    p.add_argument("--fps", type=float, default=10.0, help="clip frame rate")
    p.add_argument("--seconds", type=float, default=4.0, metavar="S", help="clip length")
    p.add_argument("--mixed-aspect", action="store_true", help="half the clips 16:9 (the rest WIDTHxHEIGHT)")
    p.add_argument("--footage", metavar="VIDEO", help="a real CCTV video whose frames serve as backgrounds")
    p.add_argument("--workers", type=int, default=2, metavar="N", help="processes drawing clips")
    p.set_defaults(func=cmd_synth)

    p = command("train", "train a convRNN on a class-per-folder video data set (needs the 'train' extra)")
    p.add_argument("--data", required=True, metavar="DIR", help="the data set: DIR/<class>/<clip>.mp4")
    p.add_argument(
        "--out", required=True, metavar="DIR", help="run folder: checkpoints, log, report, bundle/"
    )
    p.add_argument(
        "--backbone", default="compact", choices=("compact", "mobilenetv2", "vgg19"), help="the per-frame CNN"
    )
    p.add_argument("--frames", type=int, default=8, metavar="T", help="frames per window")
    p.add_argument("--size", type=int, default=128, metavar="PX", help="model input size in pixels")
    p.add_argument("--fps", type=float, default=5.0, help="sampling rate of a window's frames")
    p.add_argument(
        "--epochs", type=int, default=30, metavar="N", help="most epochs (early stopping may end sooner)"
    )
    p.add_argument("--batch", type=int, default=16, metavar="N", help="windows per training step")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--gru-units", type=int, default=64, metavar="N", help="GRU width")
    p.add_argument(
        "--dense", type=int, nargs="*", default=[64], metavar="N", help="dense layer widths after the GRU"
    )
    p.add_argument("--dropout", type=float, default=0.3, help="dropout after each dense layer")
    p.add_argument(
        "--windows-per-clip", type=int, default=2, metavar="N", help="windows drawn per clip and epoch"
    )
    p.add_argument(
        "--steps-per-epoch",
        type=int,
        default=None,
        metavar="N",
        help="training steps per epoch; default: one pass over the windows",
    )
    p.add_argument("--patience", type=int, default=6, metavar="N", help="early stopping, in epochs")
    p.add_argument("--seed", type=int, default=0, help="random seed (split, initialisation, augmentation)")
    p.add_argument(
        "--weights", default=None, metavar="W", help="backbone weights: 'imagenet' or a file; default: random"
    )
    p.add_argument(
        "--pooling",
        choices=("avg", "max", "attention"),
        default="avg",
        help="per-frame pooling before the GRU; attention: learnt weights over each frame's locations",
    )
    p.add_argument(
        "--motion",
        action="store_true",
        help="also feed the GRU each frame's change in activations (what moved, from the cache)",
    )
    p.add_argument(
        "--input",
        choices=tuple(INPUT_CODINGS),
        default=BGR_INPUT,
        help="what the backbone sees of each frame: bgr, the frame as is; motion, the frame in grey with "
        "its change since the previous sampled frame (the bundle records it; the monitor does the same)",
    )
    p.add_argument(
        "--hop",
        type=float,
        default=0.8,
        metavar="S",
        help="seconds between a clip's windows (training draws --windows-per-clip of them; validation "
        "scores them all): shorter gives short clips more windows",
    )
    p.add_argument("--no-augment", action="store_true", help="no flip/crop/brightness augmentation")
    p.add_argument(
        "--augment-scenes",
        action="store_true",
        help="also make some windows a wider view (people smaller) and burn in timestamps or caption bands",
    )
    p.add_argument(
        "--frame-loss",
        type=float,
        default=0.5,
        help="weight of the per-frame auxiliary loss that trains the backbone directly (0: off)",
    )
    p.add_argument(
        "--readout",
        choices=("last", "mean"),
        default="last",
        help="what the classifier reads of the GRU: its last state, or the mean over the window's frames",
    )
    p.add_argument(
        "--box-loss",
        type=float,
        default=0.0,
        metavar="W",
        help="weight of a loss that keeps the attention inside the actors' boxes where a clip has them "
        "(vigil synth writes them; needs --pooling attention; 0: off)",
    )
    p.add_argument(
        "--backbone-from",
        metavar="MODEL",
        help="start the backbone from a trained convRNN's model.keras (same backbone and size)",
    )
    p.add_argument(
        "--freeze-backbone",
        action="store_true",
        help="train only what follows the backbone, on its features as they are (from --weights or "
        "--backbone-from): no gradient goes through it; for a small data set",
    )
    grouping = p.add_mutually_exclusive_group()
    grouping.add_argument(
        "--groups",
        metavar="FILE",
        help="which clips belong together (one source video, camera, day): a heading line per group, "
        "then 'STEM: ...' lines for its clips; validation then never shares a group with training",
    )
    grouping.add_argument(
        "--group-pattern",
        metavar="REGEX",
        help="the same from clip names: the regex's first group (or match) in each file stem",
    )
    p.add_argument("--folds", type=int, default=0, metavar="K", help="with groups: K folds of whole groups")
    p.add_argument(
        "--fold", type=int, default=0, metavar="I", help="with --folds: validate on fold I (0..K-1)"
    )
    p.add_argument(
        "--keep",
        choices=("best", "last"),
        default="best",
        help="which epoch becomes the bundle: best, the least validation loss (early stopping after "
        "--patience); last, every --epochs on a cosine learning-rate schedule, so validation never "
        "picks the model and its score is not flattered (cross-validation)",
    )
    p.add_argument(
        "--also-train",
        metavar="DIR",
        help="a second class-per-folder data set (e.g. vigil synth's clips, with boxes for --box-loss) "
        "whose clips join the training side only: validation and its scores stay --data's",
    )
    p.add_argument(
        "--all-clips",
        action="store_true",
        help="train on every clip, validate on none (needs --keep last): the model to ship once a "
        "k-fold run with the same settings has measured it",
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.keras")
    p.set_defaults(func=cmd_train)

    p = command(
        "folds",
        "a k-fold run as one: each score's mean and spread over the folds, and every held-out clip pooled",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="the folds' run folders (vigil train --out)")
    p.add_argument("--json", metavar="FILE", help="also write the summary as JSON here")
    p.set_defaults(func=cmd_folds)

    p = command("evaluate", "score a bundle on a labelled data set (runtime only)")
    p.add_argument("bundle", metavar="BUNDLE", help="the bundle directory")
    p.add_argument(
        "--data", required=True, metavar="DIR", help="the data set: DIR/<class>/<clip>.mp4 (+ .json)"
    )
    p.add_argument(
        "--class-map",
        metavar="MAP",
        help="folders not named after the bundle's classes, e.g. 'noFight=normal,Fight=fight'; "
        "the data may hold only some of the classes (normal and one more)",
    )
    p.add_argument("--hop", type=float, default=0.8, metavar="S", help="seconds between windows")
    p.add_argument("--margin", type=int, default=4, metavar="PX", help="pointing-game margin around a box")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON here")
    p.add_argument(
        "--sheet",
        metavar="PNG",
        help="also write a contact sheet: each clip's most suspicious window at its evidence frame, "
        "with its map, to judge by eye where the heat lands",
    )
    p.add_argument(
        "--deletion-windows",
        type=int,
        default=1,
        metavar="N",
        help="windows per anomaly clip whose map is scored by deletion (0: none; each costs "
        "12 backbone passes over its frames)",
    )
    p.add_argument("--providers", default="tensorrt,cuda,cpu", help=PROVIDERS_HELP)
    p.set_defaults(func=cmd_evaluate)

    p = command(
        "explain",
        "Grad-CAM, Grad-CAM++, HiResCAM, Ablation-CAM, saliency, feature maps, filters for "
        "windows of a clip, as PNGs, MP4, JSON and an HTML report (needs the 'train' extra)",
    )
    p.add_argument("bundle", metavar="BUNDLE", help="a bundle folder with model.keras")
    p.add_argument(
        "video",
        metavar="VIDEO",
        help="a video file (or, with --compare-methods, a class-per-folder data set)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="report folder to write")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--window-index", type=int, metavar="I", help="the I-th window (one every --hop seconds)"
    )
    which.add_argument("--start", type=float, metavar="S", help="the window starting at S seconds")
    which.add_argument("--all", action="store_true", help="every window; default: the most suspicious one")
    p.add_argument(
        "--class",
        dest="target",
        action="append",
        metavar="CLASS",
        help="explain this class (repeatable); default: the predicted class",
    )
    p.add_argument(
        "--methods",
        nargs="+",
        metavar="M",
        help="default: all (gradcam gradcam++ hirescam ablation gradcam-smoothed saliency smoothgrad)",
    )
    p.add_argument(
        "--compare", nargs="+", metavar="BUNDLE", help="also explain the same moment with these bundles"
    )
    p.add_argument(
        "--compare-methods",
        action="store_true",
        help="print every method's pointing game on clips with ground truth",
    )
    p.add_argument("--hop", type=float, default=0.8, metavar="S", help="seconds between windows")
    p.add_argument("--smooth-samples", type=int, default=8, metavar="N", help="noisy copies for SmoothGrad")
    p.add_argument("--limit", type=int, default=10, metavar="N", help="clips per class for --compare-methods")
    p.set_defaults(func=cmd_explain)

    p = command(
        "serve",
        "serve a bundle to many monitors on a Triton Inference Server (gRPC, HTTP, Prometheus metrics); "
        "runs in Triton's own environment (make venv-triton)",
    )
    p.add_argument("bundle", metavar="BUNDLE", help="the bundle directory (the monitors name the same one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--grpc-port", type=int, default=8001, metavar="PORT", help="what monitors connect to")
    p.add_argument("--http-port", type=int, default=8000, metavar="PORT", help="KServe v2 over HTTP")
    p.add_argument(
        "--metrics-port", type=int, default=8002, metavar="PORT", help="Triton's Prometheus metrics"
    )
    p.add_argument("--providers", default="cuda,cpu", help=PROVIDERS_HELP)
    p.add_argument("--threads", type=int, default=0, metavar="N", help="ONNX Runtime threads (0: all cores)")
    p.set_defaults(func=cmd_serve, reads_video=False)  # Triton's environment has no FFmpeg (PyAV)

    p = command("inspect", "open a bundle with the runtime and explain one window")
    p.add_argument("bundle", metavar="BUNDLE", help="the bundle directory")
    p.add_argument("--video", metavar="VIDEO", help="take the window from this video; default: random frames")
    p.add_argument("--providers", default="tensorrt,cuda,cpu", help=PROVIDERS_HELP)
    p.set_defaults(func=cmd_inspect)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)  # what `vigil serve` passes on to Triton's venv
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose and getattr(args, "reads_video", True):
        from streamer.capture.sources import silence_backend_logs

        silence_backend_logs()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
