"""Per-window inference cost: naive (backbone over all T frames each window) vs the per-frame
activation cache at several strides, and the price of explanations (head with gradients + CAM vs a
logits-only head); backbone batch sizes and ORT thread counts; ONNX Runtime vs TensorFlow on the
same window; the backbone's multiply-adds against a MatMul ceiling measured on the same provider;
on a GPU the host-to-device copy of the activation cache, and the head with the cache already on
the device (I/O binding). Everything is measured side by side in one run; prints JSON.

    python -m benchmarks.inference                      # compact at 128 px and VGG19 at 224 px, T=16
    python -m benchmarks.inference --backbones compact,mobilenetv2 --quick
    python -m benchmarks.inference --providers tensorrt-fp16,tensorrt,cuda,cpu    # on a GPU
Needs the 'train' extra (it exports fresh models).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.device import BoundRun, session_device, upload
from benchmarks.flops import matmul_gflops, multiply_adds
from benchmarks.machine import emit, machine_info

DEFAULT_SIZES = {"vgg19": 224, "mobilenetv2": 128, "compact": 128}
# What the monitor reads from the head each window (the rest stays on the device).
HEAD_READ = ["probs", "cam", "cam_class"]
FP16_SUFFIX = "-fp16"


def provider_entry(entry: str) -> tuple[str, bool]:
    """A --providers entry ("tensorrt-fp16", "cuda", ...) -> (provider name, TensorRT FP16)."""
    return entry.removesuffix(FP16_SUFFIX), entry.endswith(FP16_SUFFIX)


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


def tensorflow_timings(model, window: np.ndarray, activations: np.ndarray, repeats: int) -> dict:
    """The same window in TensorFlow: the backbone per frame and the explained head as tf.functions
    (traced once, as a serving loop would), and a plain Keras call on the whole window."""
    import tensorflow as tf

    from models.cams.head import explain_head
    from models.convrnn import split_convrnn

    backbone, head = split_convrnn(model)
    backbone_fn = tf.function(lambda x: backbone(x, training=False))
    head_fn = tf.function(lambda a, t: explain_head(head, a, t))
    frame, acts, target = tf.constant(window[:1]), tf.constant(activations[None]), tf.constant([-1])
    return {
        "backbone_ms_per_frame": round(timed(lambda: backbone_fn(frame).numpy(), repeats) * 1e3, 3),
        "head_explained_ms": round(timed(lambda: head_fn(acts, target)["cam"].numpy(), repeats) * 1e3, 3),
        "keras_call_window_logits_ms": round(
            timed(lambda: np.asarray(model(window[None], training=False)), max(3, repeats // 3)) * 1e3, 3
        ),
    }


def batch_throughput(session, frames: np.ndarray, batches: list[int], repeats: int) -> dict:
    """Backbone frames per second at each batch size (several cameras' frames share one call)."""
    name = session.get_inputs()[0].name
    out = {}
    for b in batches:
        batch = np.resize(frames, (b, *frames.shape[1:]))
        out[str(b)] = round(b / timed(lambda batch=batch: session.run(None, {name: batch}), repeats), 2)
    return out


def device_resident_cache(bundle, activations: np.ndarray, repeats: int) -> dict:
    """The head with the window's activations already on the device (I/O binding) against the
    copy a host-side cache pays each window. On the CPU the device is the host: both ~free."""
    from streamer.inference.bundle import ACTIVATIONS, HEAD_FILE

    session = bundle.session(HEAD_FILE)
    device = session_device(session)
    window = activations[None].astype(np.float32)
    bound = BoundRun(session, {ACTIVATIONS: window}, HEAD_READ)
    return {
        "device": device,
        "cache_window_mb": round(window.nbytes / 2**20, 2),
        "cache_upload_ms": round(timed(lambda: upload(window, device), repeats) * 1e3, 3),
        "head_explained_bound_ms": round(timed(bound, repeats) * 1e3, 3),
    }


def arithmetic(backbone_path: Path, per_frame_s: float, provider: str, quick: bool) -> dict:
    """The backbone's work per frame and how close its time comes to the provider's MatMul rate."""
    macs = multiply_adds(backbone_path)
    achieved = 2 * macs / per_frame_s / 1e9
    size = 128 if quick else (8192 if provider in ("cuda", "tensorrt") else 3072)
    ceiling = matmul_gflops("cpu" if provider == "cpu" else "cuda", size)
    return {
        "backbone_gmacs_per_frame": round(macs / 1e9, 4),
        "backbone_gflops_per_s": round(achieved, 1),
        "matmul_gflops_per_s": round(ceiling, 1),
        "matmul_size": size,
        "backbone_fraction_of_matmul": round(achieved / ceiling, 3),
    }


def bench_provider(
    bundle_dir: Path,
    logits_path: Path,
    window: np.ndarray,
    provider: str,
    strides: list[int],
    repeats: int,
    batches: list[int],
    quick: bool = False,
) -> dict:
    """Every per-window cost on one execution provider ("cpu", "cuda", "tensorrt", "tensorrt-fp16"),
    side by side."""
    from streamer.inference.bundle import BACKBONE_FILE, HEAD_THREADS, open_bundle
    from streamer.inference.providers import create_session

    name, fp16 = provider_entry(provider)
    started = time.perf_counter()
    # TensorRT builds its engines during warm-up (minutes, once; then from the disk cache)
    bundle = open_bundle(bundle_dir, providers=(name,), tensorrt_fp16=fp16)
    first_call = time.perf_counter() - started
    logits_session = create_session(
        logits_path, (name,), threads=HEAD_THREADS, tensorrt_fp16=fp16
    )  # as the head
    frames = len(window)
    activations = bundle.backbone(window)
    per_frame = timed(lambda: bundle.backbone(window[:1]), repeats)
    head_explained = timed(lambda: bundle.head(activations), repeats)
    head_logits = timed(lambda: logits_session.run(["logits"], {"activations": activations[None]}), repeats)
    naive = timed(lambda: bundle.head(bundle.backbone(window)), max(3, repeats // 3))
    result = {
        "provider": bundle.provider + (FP16_SUFFIX if fp16 and bundle.provider == "tensorrt" else ""),
        "asked": provider,
        "open_and_warm_up_s": round(first_call, 2),
        "activation_shape": list(bundle.manifest.activation_shape),
        "backbone_ms_per_frame": round(per_frame * 1e3, 3),
        "head_explained_ms": round(head_explained * 1e3, 3),
        "head_logits_only_ms": round(head_logits * 1e3, 3),
        "explanation_overhead_head": round(head_explained / head_logits, 3),
        "naive_window_ms": round(naive * 1e3, 3),
        "cached": {},
    }
    for stride in strides:
        new = window[:stride]
        cached = timed(lambda new=new: (bundle.backbone(new), bundle.head(activations)), repeats)
        result["cached"][str(stride)] = {
            "window_ms": round(cached * 1e3, 3),
            "speedup_vs_naive": round(naive / cached, 2),
            "ideal": frames / stride,
        }
    # Explanation overhead on the whole per-window cost at stride 4 (what a camera really pays).
    stride = 4 if 4 in strides else strides[0]
    result["explanation_overhead_window"] = round(
        (stride * per_frame + head_explained) / (stride * per_frame + head_logits), 3
    )
    result["device_resident_cache"] = device_resident_cache(bundle, activations, repeats)
    result["arithmetic"] = arithmetic(bundle_dir / BACKBONE_FILE, per_frame, bundle.provider, quick)
    result["backbone_frames_per_s_by_batch"] = batch_throughput(
        bundle.session(BACKBONE_FILE), window, batches, max(3, repeats // 3)
    )
    return result


def ms_by_threads(path: Path, feeds: dict, threads: list[int], repeats: int) -> dict:
    """Milliseconds per CPU call of one graph at each ORT intra-op thread count."""
    from streamer.inference.providers import create_session

    return {
        str(n): round(
            timed(lambda s=create_session(path, ("cpu",), threads=n): s.run(None, feeds), repeats) * 1e3, 3
        )
        for n in threads
    }


def bench_backbone(
    name: str,
    frames: int,
    size: int,
    strides: list[int],
    repeats: int,
    workdir: Path,
    batches: list[int],
    threads: list[int],
    providers: list[str],
    quick: bool = False,
) -> list[dict]:
    """One exported model, timed on each provider; on the CPU also per thread count and in TF."""
    import keras

    from models.convrnn import build_convrnn
    from models.export import export_bundle
    from streamer.inference.providers import choose_providers

    keras.utils.set_random_seed(0)
    model = build_convrnn(name, frames=frames, input_size=(size, size))
    bundle_dir = export_bundle(model, workdir / name)
    logits_path = logits_only_head(model, workdir / name)
    window = np.random.default_rng(0).integers(0, 256, (frames, size, size, 3), dtype=np.uint8)
    results = []
    for provider in providers:
        try:
            choose_providers((provider_entry(provider)[0],))
        except ValueError as err:  # e.g. CUDA asked for on a machine without a GPU: say so, go on
            results.append({"backbone": name, "asked": provider, "skipped": str(err)})
            continue
        result = {
            "backbone": name,
            "frames": frames,
            "input_size": size,
            **bench_provider(bundle_dir, logits_path, window, provider, strides, repeats, batches, quick),
        }
        if result["provider"] == "cpu":
            activations = np.asarray(model.get_layer("time_distributed").layer(window, training=False))
            result["backbone_ms_per_frame_by_threads"] = ms_by_threads(
                bundle_dir / "backbone.onnx", {"frames": window[:1]}, threads, repeats
            )
            result["head_explained_ms_by_threads"] = ms_by_threads(
                bundle_dir / "head.onnx", {"activations": activations[None]}, threads, repeats
            )
            tf_times = tensorflow_timings(model, window, activations, repeats)
            result["tensorflow"] = tf_times
            result["tensorflow_over_onnxruntime"] = {
                "backbone": round(tf_times["backbone_ms_per_frame"] / result["backbone_ms_per_frame"], 2),
                "head_explained": round(tf_times["head_explained_ms"] / result["head_explained_ms"], 2),
            }
        results.append(result)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", default="compact,mobilenetv2,vgg19")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--strides", default="1,4,8")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--providers", default="cpu", help="e.g. tensorrt-fp16,tensorrt,cuda,cpu: each is timed"
    )
    parser.add_argument("--batches", default="1,2,4,8,16,32", help="backbone batch sizes")
    parser.add_argument(
        "--threads", default=None, help="ORT intra-op threads to try (default: 1 and all cores)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that the script runs")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    strides = [int(s) for s in args.strides.split(",")]
    frames, repeats = (4, 3) if args.quick else (args.frames, args.repeats)
    strides = [s for s in strides if s <= frames]
    batches = [1, 2] if args.quick else [int(b) for b in args.batches.split(",")]
    providers = args.providers.split(",")
    threads = [int(t) for t in args.threads.split(",")] if args.threads else sorted({1, os.cpu_count() or 1})
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.backbones.split(","):
            size = 32 if args.quick else DEFAULT_SIZES[name]
            results += bench_backbone(
                name, frames, size, strides, repeats, Path(tmp), batches, threads, providers, args.quick
            )
    report = {"benchmark": "inference", "machine": machine_info(), "results": results}
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
