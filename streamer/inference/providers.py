"""ONNX Runtime sessions on the best execution provider allowed, and a check of what we really got."""

from __future__ import annotations

import ctypes
import functools
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort

logger = logging.getLogger(__name__)

# Config names -> ONNX Runtime names, in order of preference.
PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


GPU_PROVIDERS = {PROVIDERS["tensorrt"], PROVIDERS["cuda"]}


def parse_providers(text: str) -> tuple[str, ...]:
    """A command line's --providers ("tensorrt,cuda,cpu") -> names, checked: the one home of that
    format (the config gives an array)."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in PROVIDERS]
    if not names or unknown:
        raise ValueError(f"--providers: expected comma-separated names from {list(PROVIDERS)}, got {text!r}")
    return names


@functools.cache
def nvidia_driver_present() -> bool:
    """onnxruntime-gpu lists CUDA and TensorRT on any machine; without the NVIDIA driver asking
    for them only prints library-load errors before it falls back to the CPU."""
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def choose_providers(allowed: Sequence[str], available: Sequence[str] | None = None) -> list[str]:
    """ONNX Runtime provider names to ask for: preference order, filtered by config and build
    (and, when asking this machine, by whether an NVIDIA driver is there at all)."""
    unknown = [name for name in allowed if name not in PROVIDERS]
    if unknown:
        raise ValueError(f"providers: expected names from {list(PROVIDERS)}, got {unknown}")
    if available is None:
        available = set(ort.get_available_providers())
        if not nvidia_driver_present():
            available -= GPU_PROVIDERS
    available = set(available)
    chosen = [PROVIDERS[name] for name in PROVIDERS if name in allowed and PROVIDERS[name] in available]
    if not chosen:
        raise ValueError(
            f"providers: none of {list(allowed)} is available in this onnxruntime "
            f"build (it has {sorted(available)})"
        )
    return chosen


def session_options(threads: int = 0) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # Sessions that take turns (backbone, head, several models) would otherwise spin their idle
    # worker threads against each other: measured 25% to 2x slower on 2 cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


def provider_options(name: str, cache_dir: Path | None, tensorrt_fp16: bool = False) -> dict:
    """TensorRT builds an engine per model for minutes on first use: keep it on disk (cache_dir),
    pay once. FP16 engines are about twice as fast on tensor cores; TensorRT keeps FP32 where a
    layer needs it. Other providers take no options here."""
    if name != PROVIDERS["tensorrt"]:
        return {}
    options = {"trt_fp16_enable": "True"} if tensorrt_fp16 else {}
    if cache_dir is not None:
        folder = str(precision_cache_dir(cache_dir, tensorrt_fp16))
        options.update(
            {
                "trt_engine_cache_enable": "True",
                "trt_engine_cache_path": folder,
                "trt_timing_cache_enable": "True",
                "trt_timing_cache_path": folder,
            }
        )
    return options


def precision_cache_dir(cache_dir: Path, tensorrt_fp16: bool) -> Path:
    """Engines of each precision kept apart, so an FP32 start never loads an FP16 engine."""
    return cache_dir / "fp16" if tensorrt_fp16 else cache_dir


def engine_cache_dir() -> Path:
    """Where TensorRT engines are kept: $VIGIL_CACHE_DIR, else ~/.cache/vigil/tensorrt."""
    root = os.environ.get("VIGIL_CACHE_DIR") or Path.home() / ".cache" / "vigil"
    return Path(root) / "tensorrt"


def create_session(
    path: Path, allowed: Sequence[str], threads: int = 0, tensorrt_fp16: bool = False
) -> ort.InferenceSession:
    """A session on the first allowed provider that really loads.

    onnxruntime-gpu lists CUDA and TensorRT even where no GPU or CUDA library exists, and then
    falls back to the CPU on its own, so what we asked for is not what we got: compare and say.
    """
    wanted = choose_providers(allowed)
    cache = engine_cache_dir()
    if PROVIDERS["tensorrt"] in wanted:
        try:
            precision_cache_dir(cache, tensorrt_fp16).mkdir(parents=True, exist_ok=True)
        except OSError as err:  # a read-only home under systemd hardening: build engines each start
            logger.warning("%s: no TensorRT engine cache (%s)", Path(path).name, err)
            cache = None
    providers = [(name, provider_options(name, cache, tensorrt_fp16)) for name in wanted]
    session = ort.InferenceSession(str(path), sess_options=session_options(threads), providers=providers)
    got = session.get_providers()
    if got[0] != wanted[0]:
        logger.warning("%s: asked for %s, running on %s", Path(path).name, wanted[0], got[0])
    return session


def active_provider(session: ort.InferenceSession) -> str:
    """The config name of the provider a session actually runs on."""
    by_ort_name = {v: k for k, v in PROVIDERS.items()}
    return by_ort_name.get(session.get_providers()[0], session.get_providers()[0])
