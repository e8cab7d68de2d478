"""Opening bundles: every way a bundle can be broken gives one clear line naming file and problem."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from streamer.inference.bundle import BundleError, open_bundle, sha256_file
from tests.conftest import make_frames


def edit_manifest(bundle: Path, **changes) -> None:
    path = bundle / "manifest.json"
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    path.write_text(json.dumps(data))


def refresh_checksum(bundle: Path, name: str) -> None:
    data = json.loads((bundle / "manifest.json").read_text())
    data["files"][name] = sha256_file(bundle / name)
    (bundle / "manifest.json").write_text(json.dumps(data))


def no_manifest(b):
    (b / "manifest.json").unlink()


def manifest_not_json(b):
    (b / "manifest.json").write_text("{not json")


def manifest_missing_frames(b):
    edit_manifest(b, frames=None)


def manifest_wrong_type(b):
    edit_manifest(b, frames="16")


def manifest_wrong_version(b):
    edit_manifest(b, format_version=99)


def manifest_bad_normal(b):
    edit_manifest(b, normal_class="calm")


def manifest_unknown_cam(b):
    edit_manifest(b, cam="lime")


def head_tampered(b):
    with open(b / "head.onnx", "ab") as f:
        f.write(b"\0")


def backbone_missing(b):
    (b / "backbone.onnx").unlink()


def backbone_not_onnx(b):
    (b / "backbone.onnx").write_bytes(b"this is not a protobuf")
    refresh_checksum(b, "backbone.onnx")


def manifest_wrong_frames(b):
    edit_manifest(b, frames=5)


def manifest_wrong_activation_shape(b):
    edit_manifest(b, activation_shape=[8, 8, 96])


BROKEN_BUNDLES = [
    (no_manifest, r"manifest\.json: missing \(not a Vigil bundle directory\?\)"),
    (manifest_not_json, r"manifest\.json: not valid JSON"),
    (manifest_missing_frames, r"manifest\.json: missing key 'frames'"),
    (manifest_wrong_type, r"manifest\.json: frames: expected int, got str '16'"),
    (manifest_wrong_version, r"expected format 'vigil-bundle' version 1, got 'vigil-bundle' version 99"),
    (manifest_bad_normal, r"normal_class: expected one of \['normal', 'fight', 'shooting'\], got 'calm'"),
    (manifest_unknown_cam, r"cam: expected one of \['gradcam', 'hirescam'\], got 'lime'"),
    (head_tampered, r"head\.onnx: sha256 mismatch"),
    (backbone_missing, r"backbone\.onnx: missing"),
    (backbone_not_onnx, r"backbone\.onnx: not a loadable ONNX model"),
    (
        manifest_wrong_frames,
        r"head\.onnx: input 'activations': expected shape \[1, 5, 4, 4, 96\], got \[1, 3, 4, 4, 96\]",
    ),
    (
        manifest_wrong_activation_shape,
        r"backbone\.onnx: output 'activations': expected shape \[None, 8, 8, 96\]",
    ),
]


@pytest.mark.parametrize("damage,message", BROKEN_BUNDLES, ids=[d.__name__ for d, _ in BROKEN_BUNDLES])
def test_broken_bundle_gives_one_clear_line(bundle_copy, damage, message):
    damage(bundle_copy)
    with pytest.raises(BundleError, match=message) as info:
        open_bundle(bundle_copy, providers=("cpu",))
    assert "\n" not in str(info.value)


def test_not_a_directory(tmp_path):
    with pytest.raises(BundleError, match=r"nowhere: not a directory"):
        open_bundle(tmp_path / "nowhere")


def test_full_graph_shape_is_checked_when_first_used(bundle_copy):
    import onnx  # only to forge a model.onnx with another contract

    from models.export import convert, graph_functions
    from tests.conftest import tiny_model

    fn, signature = graph_functions(tiny_model(frames=4))["model.onnx"]
    onnx.save(convert(fn, signature), bundle_copy / "model.onnx")
    refresh_checksum(bundle_copy, "model.onnx")
    bundle = open_bundle(bundle_copy, providers=("cpu",))
    with pytest.raises(
        BundleError,
        match=r"model\.onnx: input 'frames': expected shape \[1, 3, 32, 32, 3\], got \[1, 4, 32, 32, 3\]",
    ):
        bundle.full(make_frames(3, 32, 32))


@pytest.mark.parametrize(
    "frames,message",
    [
        (make_frames(3, 32, 16), r"frames: expected \[N, 32, 32, 3\] uint8, got \[3, 32, 16, 3\] uint8"),
        (make_frames(3, 32, 32).astype(np.float32), r"got \[3, 32, 32, 3\] float32"),
        (make_frames(3, 32, 32)[..., :1], r"got \[3, 32, 32, 1\] uint8"),
    ],
)
def test_wrong_frames_are_refused_by_name(tiny_bundle, frames, message):
    with pytest.raises(ValueError, match=message):
        open_bundle(tiny_bundle, providers=("cpu",)).backbone(frames)


def test_head_refuses_a_window_of_wrong_length(tiny_bundle):
    bundle = open_bundle(tiny_bundle, providers=("cpu",))
    with pytest.raises(
        ValueError, match=r"head: expected activations of shape \(3, 4, 4, 96\), got \(2, 4, 4, 96\)"
    ):
        bundle.head(np.zeros((2, 4, 4, 96), np.float32))


def test_gpu_providers_fall_back_to_cpu_and_say_so(tiny_bundle, caplog, monkeypatch):
    """A driver but no usable CUDA libraries: onnxruntime falls back on its own; we say so. (Here,
    without a driver, the driver probe is told yes so that onnxruntime really tries.)"""
    import onnxruntime as ort

    from streamer.inference import providers

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("this onnxruntime build has no CUDA provider to fall back from")
    monkeypatch.setattr(providers, "nvidia_driver_present", lambda: True)
    with caplog.at_level(logging.WARNING):
        bundle = open_bundle(tiny_bundle, providers=("cuda", "cpu"))
    if bundle.provider == "cuda":
        pytest.skip("a working GPU is present: nothing falls back")
    assert bundle.provider == "cpu"
    assert "asked for CUDAExecutionProvider, running on CPUExecutionProvider" in caplog.text


@pytest.mark.gpu
def test_gpu_provider_really_used(tiny_bundle):
    from tests.gpu import require_cuda

    require_cuda()
    bundle = open_bundle(tiny_bundle, providers=("cuda", "cpu"))
    assert bundle.provider == "cuda"
    cpu = open_bundle(tiny_bundle, providers=("cpu",))
    frames = make_frames(3, 32, 32)
    np.testing.assert_allclose(bundle.full(frames).cam, cpu.full(frames).cam, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize(
    "allowed,available,expected",
    [
        (
            ("tensorrt", "cuda", "cpu"),
            ["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"],
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
        ),
        (
            ("cpu", "cuda"),
            ["CUDAExecutionProvider", "CPUExecutionProvider"],
            ["CUDAExecutionProvider", "CPUExecutionProvider"],
        ),
        (("tensorrt", "cpu"), ["CPUExecutionProvider"], ["CPUExecutionProvider"]),
        (("cuda",), ["CUDAExecutionProvider", "CPUExecutionProvider"], ["CUDAExecutionProvider"]),
    ],
)
def test_providers_in_preference_order_among_allowed_and_available(allowed, available, expected):
    from streamer.inference.providers import choose_providers

    assert choose_providers(allowed, available) == expected


@pytest.mark.parametrize(
    "allowed,available,message",
    [
        (
            ("rocm",),
            ["CPUExecutionProvider"],
            r"providers: expected names from \['tensorrt', 'cuda', 'cpu'\], got \['rocm'\]",
        ),
        (("cuda",), ["CPUExecutionProvider"], r"providers: none of \['cuda'\] is available"),
    ],
)
def test_provider_errors(allowed, available, message):
    from streamer.inference.providers import choose_providers

    with pytest.raises(ValueError, match=message):
        choose_providers(allowed, available)


def test_no_gpu_provider_is_asked_for_without_an_nvidia_driver(tiny_bundle, capfd):
    """Else onnxruntime-gpu prints screens of library-load errors on every CPU machine."""
    from streamer.inference.providers import choose_providers, nvidia_driver_present

    if nvidia_driver_present():
        pytest.skip("this machine has an NVIDIA driver")
    assert choose_providers(("tensorrt", "cuda", "cpu")) == ["CPUExecutionProvider"]
    assert open_bundle(tiny_bundle).provider == "cpu"
    assert "Failed to load library" not in capfd.readouterr().err


@pytest.mark.parametrize(
    "name,cache,fp16,expected",
    [
        ("CPUExecutionProvider", Path("/c"), True, {}),
        ("CUDAExecutionProvider", Path("/c"), False, {}),
        ("TensorrtExecutionProvider", None, False, {}),
        ("TensorrtExecutionProvider", None, True, {"trt_fp16_enable": "True"}),
        (
            "TensorrtExecutionProvider",
            Path("/c"),
            True,
            {
                "trt_fp16_enable": "True",
                "trt_engine_cache_enable": "True",
                "trt_engine_cache_path": "/c/fp16",
                "trt_timing_cache_enable": "True",
                "trt_timing_cache_path": "/c/fp16",
            },
        ),
        (
            "TensorrtExecutionProvider",
            Path("/c"),
            False,
            {
                "trt_engine_cache_enable": "True",
                "trt_engine_cache_path": "/c",
                "trt_timing_cache_enable": "True",
                "trt_timing_cache_path": "/c",
            },
        ),
    ],
)
def test_tensorrt_options_carry_the_engine_cache_and_fp16(name, cache, fp16, expected):
    from streamer.inference.providers import provider_options

    assert provider_options(name, cache, fp16) == expected


def test_config_turns_tensorrt_fp16_on():
    from streamer.config import ConfigError, parse_config

    assert parse_config({"model": {"tensorrt_fp16": True}}).model.tensorrt_fp16 is True
    with pytest.raises(ConfigError, match="model.tensorrt_fp16: expected a boolean, got string 'yes'"):
        parse_config({"model": {"tensorrt_fp16": "yes"}})


@pytest.mark.gpu
def test_tensorrt_fp16_engine_agrees_with_the_cpu(tiny_bundle, tmp_path, monkeypatch):
    from tests.gpu import require_cuda

    require_cuda()
    monkeypatch.setenv("VIGIL_CACHE_DIR", str(tmp_path))
    bundle = open_bundle(tiny_bundle, providers=("tensorrt", "cpu"), tensorrt_fp16=True)
    if bundle.provider != "tensorrt":
        pytest.skip("this onnxruntime has no working TensorRT provider")
    frames = make_frames(3, 32, 32)
    cpu = open_bundle(tiny_bundle, providers=("cpu",)).full(frames)
    np.testing.assert_allclose(bundle.full(frames).probs, cpu.probs, atol=2e-2)
    assert any((tmp_path / "tensorrt" / "fp16").iterdir())  # the engine was cached for the next start


def test_the_head_runs_on_one_thread_and_the_backbone_on_what_the_config_says(tiny_bundle):
    from streamer.inference.bundle import BACKBONE_FILE, HEAD_FILE

    bundle = open_bundle(tiny_bundle, providers=("cpu",), threads=2)
    assert bundle.session(BACKBONE_FILE).get_session_options().intra_op_num_threads == 2
    assert bundle.session(HEAD_FILE).get_session_options().intra_op_num_threads == 1
