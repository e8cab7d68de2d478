"""PNG plots of benchmark JSON, where a curve says more than a table: per-window cost against the
cache stride, backbone throughput against batch size, and pipeline latency and CPU against the
number of cameras.

    python -m benchmarks.plot benchmarks/results/inference-cpu.json benchmarks/results/pipeline-cpu.json
Writes NAME-*.png beside each JSON file (or into --out). Needs matplotlib (the 'bench' extra).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

PLAIN = FuncFormatter(lambda value, _: f"{value:g}")  # 2, 40, 1000: not 2x10^0


def label(result: dict) -> str:
    return f"{result['backbone']} ({result['provider']})"


def measured(report: dict) -> list[dict]:
    """The results that ran (a provider this machine lacks is listed as skipped)."""
    return [r for r in report["results"] if "skipped" not in r]


def plain_log_axis(ax, which: str, base: int = 10) -> None:
    """A log x or y axis with plain numbers on it."""
    getattr(ax, f"set_{which}scale")("log", base=base)
    axis = getattr(ax, f"{which}axis")
    axis.set_major_formatter(PLAIN)
    axis.set_minor_formatter(FuncFormatter(lambda *_: ""))


def plot_window_cost(report: dict, path: Path) -> None:
    """Per-window milliseconds, naive vs cached at each stride, with the ideal T/stride speed-up."""
    results = measured(report)
    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.6), squeeze=False)
    for ax, r in zip(axes[0], results):
        strides = sorted(r["cached"], key=int)
        names = ["naive"] + [f"stride {s}" for s in strides]
        values = [r["naive_window_ms"]] + [r["cached"][s]["window_ms"] for s in strides]
        ax.bar(names, values, color=["#999999"] + ["#3070b0"] * len(strides), label="measured")
        ax.plot(
            names[1:],
            [r["naive_window_ms"] / r["cached"][s]["ideal"] for s in strides],
            "k_",
            markersize=22,
            mew=2,
            label="ideal: naive x stride / T",
        )
        for i, s in enumerate(strides, start=1):
            ax.annotate(f"{r['cached'][s]['speedup_vs_naive']}x", (i, values[i]), ha="center", va="bottom")
        plain_log_axis(ax, "y")
        ax.set_title(label(r), fontsize=10)
        ax.set_ylabel("ms per window")
    fig.legend(*axes[0][0].get_legend_handles_labels(), fontsize=8, loc="lower center", ncol=2)
    fig.suptitle(f"Per-window cost, T = {results[0]['frames']}: per-frame activation cache vs naive")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_batch_throughput(report: dict, path: Path) -> None:
    """Backbone frames per second against the number of frames per call."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in measured(report):
        batches = sorted(r["backbone_frames_per_s_by_batch"], key=int)
        ax.plot(
            [int(b) for b in batches],
            [r["backbone_frames_per_s_by_batch"][b] for b in batches],
            "o-",
            label=label(r),
        )
    plain_log_axis(ax, "x", base=2)
    plain_log_axis(ax, "y")
    ax.set_xlabel("frames per backbone call")
    ax.set_ylabel("backbone frames / s")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_pipeline(report: dict, path: Path) -> None:
    """p95 capture-to-decision latency, CPU and RSS against cameras, a line per version, backbone,
    resolution and source; a cross marks a run that fell short of real time."""
    groups: dict[str, list[dict]] = {}
    for run in report["runs"]:
        name = f"{run.get('version', '')} {run.get('backbone', '')} {run['resolution']} {run['source']}"
        groups.setdefault(" ".join(name.split()), []).append(run)
    fig, (latency_ax, cpu_ax, rss_ax) = plt.subplots(1, 3, figsize=(15, 4.2))
    for name, runs in groups.items():
        cameras = [r["cameras"] for r in runs]
        p95 = [r["decision_latency_ms"].get("p95", 0) for r in runs]
        version = runs[0].get("version", "working tree")
        # the working tree solid, its variants dotted, a compared revision dashed
        style = "o-" if version == "working tree" else "s:" if version.startswith("working tree") else "o--"
        (line,) = latency_ax.plot(cameras, p95, style, label=name)
        cpu_ax.plot(cameras, [r["cpu_percent"] for r in runs], style, color=line.get_color())
        rss_ax.plot(cameras, [r["rss_mb"]["max"] for r in runs], style, color=line.get_color())
        short = [i for i, r in enumerate(runs) if r.get("shortfalls", r["analysis_drops"])]
        for ax, values in ((latency_ax, p95), (cpu_ax, [r["cpu_percent"] for r in runs])):
            ax.plot([cameras[i] for i in short], [values[i] for i in short], "x", color="red", ms=12, mew=2)
    latency_ax.set_ylabel("p95 capture-to-decision latency, ms")
    cpu_ax.set_ylabel("CPU % (100 = one core)")
    rss_ax.set_ylabel("RSS, MB")
    for ax in (latency_ax, cpu_ax, rss_ax):
        plain_log_axis(ax, "x", base=2)
        ax.set_xlabel("cameras")
        ax.grid(True, alpha=0.3)
    plain_log_axis(latency_ax, "y")
    latency_ax.legend(fontsize=7)
    fig.suptitle("vigil run pipeline (red x: fell short of real time)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


PLOTS = {
    "inference": [("window", plot_window_cost), ("batch", plot_batch_throughput)],
    "pipeline": [("cameras", plot_pipeline)],
}


def plot_file(json_path: Path, out_dir: Path | None = None) -> list[Path]:
    """Every plot for one benchmark's JSON; returns the PNG paths written."""
    report = json.loads(json_path.read_text())
    kind = report.get("benchmark")
    if kind not in PLOTS:
        raise ValueError(f"expected a benchmark report ({sorted(PLOTS)}), got {kind!r}")
    out_dir = out_dir or json_path.parent
    written = []
    for suffix, plot in PLOTS[kind]:
        path = out_dir / f"{json_path.stem}-{suffix}.png"
        plot(report, path)
        written.append(path)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, help="folder for the PNGs (default: beside each JSON)")
    args = parser.parse_args(argv)
    for report in args.reports:
        try:
            for path in plot_file(report, args.out):
                print(path)
        except (OSError, ValueError) as err:  # json.JSONDecodeError is a ValueError
            print(f"plot: {report}: {err}", file=sys.stderr)
            return 2
        except KeyError as err:
            print(f"plot: {report}: missing key {err} (a report from an older benchmark?)", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
