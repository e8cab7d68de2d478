"""`vigil export BUNDLE --triton DIR`: a bundle as a model repository for the production Triton
server (NVIDIA's container, with the onnxruntime backend and its TensorRT accelerator).

Two models, named as monitors ask for them (streamer/serving/protocol.py):
  vigil_backbone_<sha>  backbone.onnx as it is; a batch of frames, the dynamic batcher merging every
                        monitor's requests; TensorRT FP16 optional
  vigil_head_<sha>      head.onnx, one window a request, FP32 always (the map must stay the model's),
                        its target_class made a plain input (the bundle's graph gives it a default
                        that Triton's backend would not see as an input)
No ensemble: the backbone runs once per frame and the head once per window over frames cached on the
monitor, so a pipeline that ran both per request would redo every frame T times.

Checked here as far as a machine without Triton's container allows: each config.pbtxt parses as
Triton's ModelConfig, names and shapes match the ONNX graphs as ONNX Runtime loads them, and both
graphs, run from the repository, answer as the bundle does."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streamer.inference.bundle import (
    ACTIVATIONS,
    BACKBONE_FILE,
    EXPLANATION_OUTPUTS,
    FRAMES_INPUT,
    HEAD_FILE,
    TARGET_INPUT,
    BundleError,
    Manifest,
    open_bundle,
    output_dtype,
)
from streamer.serving.protocol import BACKBONE_MAX_BATCH, QUEUE_DELAY_US, model_names

MODEL_FILE = "model.onnx"
CONFIG_FILE = "config.pbtxt"
VERSION = "1"
TRITON_TYPES = {np.uint8: "TYPE_UINT8", np.float32: "TYPE_FP32", np.int32: "TYPE_INT32"}


@dataclass(frozen=True)
class RepositoryReport:
    backbone: Path
    head: Path
    max_abs_difference: float


def _tensor(message, name: str, dtype, dims) -> None:
    tensor = message.add()
    tensor.name, tensor.dims[:] = name, list(dims)
    tensor.data_type = _config_types().DataType.Value(TRITON_TYPES[dtype])


def _config_types():
    from tritonclient.grpc import model_config_pb2  # Triton's own ModelConfig message

    return model_config_pb2


def backbone_config(manifest: Manifest, name: str, tensorrt_fp16: bool) -> str:
    from google.protobuf import text_format

    config = _config_types().ModelConfig(name=name, backend="onnxruntime", max_batch_size=BACKBONE_MAX_BATCH)
    _tensor(config.input, FRAMES_INPUT, np.uint8, (*manifest.input_size, 3))
    _tensor(config.output, ACTIVATIONS, np.float32, manifest.activation_shape)
    config.dynamic_batching.max_queue_delay_microseconds = QUEUE_DELAY_US
    if tensorrt_fp16:
        accelerator = config.optimization.execution_accelerators.gpu_execution_accelerator.add(
            name="tensorrt"
        )
        accelerator.parameters["precision_mode"] = "FP16"
        accelerator.parameters["max_workspace_size_bytes"] = str(1 << 30)
    return text_format.MessageToString(config)


def head_config(manifest: Manifest, name: str) -> str:
    from google.protobuf import text_format

    inputs, outputs = manifest.expected_io()[HEAD_FILE]
    config = _config_types().ModelConfig(name=name, backend="onnxruntime", max_batch_size=0)
    _tensor(config.input, ACTIVATIONS, np.float32, inputs[ACTIVATIONS])
    _tensor(config.input, TARGET_INPUT, np.int32, inputs[TARGET_INPUT])
    for output in EXPLANATION_OUTPUTS:
        _tensor(config.output, output, output_dtype(output), outputs[output])
    return text_format.MessageToString(config)


def head_without_default_target(source: Path, target: Path) -> None:
    """head.onnx with target_class an input and no longer an initializer (its default)."""
    import onnx

    model = onnx.load(str(source))
    kept = [i for i in model.graph.initializer if i.name != TARGET_INPUT]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    onnx.save(model, str(target))


def write_repository(
    bundle_dir: str | Path, out: str | Path, tensorrt_fp16: bool = False
) -> RepositoryReport:
    """Write (or replace) the bundle's two models in the repository `out`, then check them."""
    bundle = open_bundle(bundle_dir, ("cpu",), warm_up=False)
    manifest, names = bundle.manifest, model_names(bundle.manifest)
    out = Path(out)
    folders = {}
    for name, source, config in (
        (names.backbone, BACKBONE_FILE, backbone_config(manifest, names.backbone, tensorrt_fp16)),
        (names.head, HEAD_FILE, head_config(manifest, names.head)),
    ):
        folder = out / name
        if folder.exists():
            shutil.rmtree(folder)
        (folder / VERSION).mkdir(parents=True)
        if source == HEAD_FILE:
            head_without_default_target(bundle.directory / source, folder / VERSION / MODEL_FILE)
        else:
            shutil.copyfile(bundle.directory / source, folder / VERSION / MODEL_FILE)
        (folder / CONFIG_FILE).write_text(config)
        folders[source] = folder
    difference = check_repository(bundle, folders[BACKBONE_FILE], folders[HEAD_FILE])
    return RepositoryReport(folders[BACKBONE_FILE], folders[HEAD_FILE], difference)


def read_config(folder: Path):
    from google.protobuf import text_format

    return text_format.Parse((folder / CONFIG_FILE).read_text(), _config_types().ModelConfig())


def check_repository(bundle, backbone: Path, head: Path) -> float:
    """Each config against its graph as ONNX Runtime loads it (names, types, shapes with the batch
    axis Triton adds), then both graphs against the bundle's answers; the largest difference."""
    import onnxruntime as ort

    sessions = {}
    quiet = ort.SessionOptions()
    quiet.log_severity_level = 3  # the exported head's unused initializers are warned about, harmlessly
    for folder in (backbone, head):
        config = read_config(folder)
        session = ort.InferenceSession(
            str(folder / VERSION / MODEL_FILE), quiet, providers=["CPUExecutionProvider"]
        )
        batch = [None] if config.max_batch_size > 0 else []
        for declared, actual in (
            (config.input, session.get_inputs()),
            (config.output, session.get_outputs()),
        ):
            shapes = {node.name: [d if isinstance(d, int) else None for d in node.shape] for node in actual}
            for tensor in declared:
                if tensor.name not in shapes:
                    raise BundleError(f"{folder / CONFIG_FILE}: {tensor.name!r} is not in the graph")
                if [*batch, *tensor.dims] != shapes[tensor.name]:
                    raise BundleError(
                        f"{folder / CONFIG_FILE}: {tensor.name!r}: dims {list(tensor.dims)} "
                        f"(max_batch_size {config.max_batch_size}) against the graph's {shapes[tensor.name]}"
                    )
        sessions[folder] = session
    rng = np.random.default_rng(0)
    h, w = bundle.manifest.input_size
    frames = rng.integers(0, 256, (bundle.manifest.frames, h, w, 3), np.uint8)
    activations = sessions[backbone].run([ACTIVATIONS], {FRAMES_INPUT: frames})[0]
    difference = float(np.abs(activations - bundle.backbone(frames)).max())
    for target in range(len(bundle.manifest.classes)):
        served = sessions[head].run(
            ["probs", "cam"], {ACTIVATIONS: activations[None], TARGET_INPUT: np.array([target], np.int32)}
        )
        local = bundle.head(activations, target=target)
        difference = max(
            difference,
            float(np.abs(served[0][0] - local.probs).max()),
            float(np.abs(served[1][0] - local.cam).max()),
        )
    return difference
