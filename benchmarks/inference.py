"""Per-window inference cost: naive (backbone over all T frames each window) vs the per-frame
activation cache at several strides, and the price of explanations (head with gradients + CAM vs a
logits-only head). Everything is measured side by side in one run on ONNX Runtime; prints JSON.

    python benchmarks/inference.py                      # compact at 128 px and VGG19 at 224 px, T=16
    python benchmarks/inference.py --backbones compact --quick
Needs the 'train' extra (it exports fresh models).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import emit, machine_info  # noqa: E402

DEFAULT_SIZES = {"vgg19": 224, "mobilenetv2": 128, "compact": 128}


def timed(fn, repeats: int) -> float:
    """Median seconds of fn() over repeats, after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def logits_only_head(model, out: Path) -> Path:
    """The head without gradients or CAM: what explanation costs is measured against this."""
    import tensorflow as tf

    from models.convrnn import split_convrnn
    from models.export import convert

    _, head = split_convrnn(model)
    spec = tf.TensorSpec([1, *head.input.shape[1:]], tf.float32, name="activations")
    proto = convert(lambda activations: {"logits": head(activations, training=False)}, [spec])
    import onnx

    path = out / "head_logits.onnx"
    onnx.save(proto, path)
    return path


def bench_backbone(name: str, frames: int, size: int, strides: list[int], repeats: int, workdir: Path) -> dict:
    import keras

    from models.convrnn import build_convrnn
    from models.export import export_bundle
    from streamer.bundle import open_bundle
    from streamer.providers import create_session

    keras.utils.set_random_seed(0)
    model = build_convrnn(name, frames=frames, input_size=(size, size))
    bundle_dir = export_bundle(model, workdir / name)
    bundle = open_bundle(bundle_dir, providers=("cpu",))
    logits_session = create_session(logits_only_head(model, workdir / name), ("cpu",))
    rng = np.random.default_rng(0)
    window = rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8)
    activations = bundle.backbone(window)

    per_frame = timed(lambda: bundle.backbone(window[:1]), repeats)
    head_explained = timed(lambda: bundle.head(activations), repeats)
    head_logits = timed(lambda: logits_session.run(["logits"], {"activations": activations[None]}), repeats)
    naive = timed(lambda: bundle.head(bundle.backbone(window)), max(3, repeats // 3))
    result = {"backbone": name, "frames": frames, "input_size": size,
              "activation_shape": list(bundle.manifest.activation_shape),
              "backbone_ms_per_frame": round(per_frame * 1e3, 3),
              "head_explained_ms": round(head_explained * 1e3, 3), "head_logits_only_ms": round(head_logits * 1e3, 3),
              "explanation_overhead_head": round(head_explained / head_logits, 3),
              "naive_window_ms": round(naive * 1e3, 3), "cached": {}}
    for stride in strides:
        new = window[:stride]
        cached = timed(lambda: (bundle.backbone(new), bundle.head(activations)), repeats)
        result["cached"][str(stride)] = {"window_ms": round(cached * 1e3, 3),
                                         "speedup_vs_naive": round(naive / cached, 2), "ideal": frames / stride}
    # Explanation overhead on the whole per-window cost at stride 4 (what a camera really pays).
    stride = 4 if 4 in strides else strides[0]
    result["explanation_overhead_window"] = round(
        (stride * per_frame + head_explained) / (stride * per_frame + head_logits), 3)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", default="compact,vgg19")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--strides", default="1,4,8")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that the script runs")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    strides = [int(s) for s in args.strides.split(",")]
    frames, repeats = (4, 3) if args.quick else (args.frames, args.repeats)
    strides = [s for s in strides if s <= frames]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.backbones.split(","):
            size = 32 if args.quick else DEFAULT_SIZES[name]
            results.append(bench_backbone(name, frames, size, strides, repeats, Path(tmp)))
    report = {"benchmark": "inference", "machine": machine_info(), "results": results}
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
