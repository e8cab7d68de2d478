"""The head's cost per window, with gradients and the CAM (what the monitor runs each window), for
several bundles side by side in one run: what an explanation-friendly head costs against another.

    python -m benchmarks.heads models/demo build/run/bundle --threads 1 --out heads.json
Runtime only; prints JSON.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from benchmarks.machine import emit, machine_info
from streamer.inference.bundle import open_bundle


def head_times(directory: str, threads: int, repeats: int, seed: int = 0) -> tuple[list[float], dict]:
    """ms of `repeats` head runs (logits, gradients, CAM) on cached activations, and what ran."""
    bundle = open_bundle(directory, providers=("cpu",), threads=threads)
    m = bundle.manifest
    frames = np.random.default_rng(seed).integers(0, 256, (m.frames, *m.input_size, 3), dtype=np.uint8)
    activations = bundle.backbone(frames)
    for _ in range(3):
        bundle.head(activations)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        bundle.head(activations)
        times.append((time.perf_counter() - start) * 1000)
    return times, {"activations": list(activations.shape), "cam": m.cam}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="+", metavar="BUNDLE")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    # Interleaved rounds, so a slower moment of the machine does not fall on one bundle only.
    times: dict[str, list[float]] = {b: [] for b in args.bundles}
    shapes = {}
    for r in range(4):
        for b in args.bundles:
            some, shapes[b] = head_times(b, args.threads, max(args.repeats // 4, 1), seed=r)
            times[b].extend(some)
    heads = {}
    for b, ms in times.items():
        ms.sort()
        heads[b] = {
            "median_ms": round(statistics.median(ms), 3),
            "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 3),
            **shapes[b],
        }
    report = {"machine": machine_info(), "threads": args.threads, "heads": heads}
    emit(report, args.out)


if __name__ == "__main__":
    main()
