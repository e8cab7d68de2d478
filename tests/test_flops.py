"""Multiply-add counts of ONNX graphs against hand-counted ones; the MatMul ceiling runs."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from benchmarks.device import BoundRun  # noqa: E402
from benchmarks.flops import matmul_gflops, matmul_model, multiply_adds  # noqa: E402
from tests.conftest import REPO  # noqa: E402


def weight(name: str, shape: tuple[int, ...]):
    return numpy_helper.from_array(np.ones(shape, np.float32), name)


def save_model(path, nodes, initializers, inputs, output, output_shape):
    graph = helper.make_graph(
        nodes,
        "g",
        inputs,
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, output_shape)],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_convolutions_and_matmuls_are_counted_by_hand(tmp_path):
    # A dynamic batch, a padded 3x3 conv, a strided depthwise conv, then a MatMul and a Gemm.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 32, 32])
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),  # 8x32x32, 3x3x3
        helper.make_node("Conv", ["c1", "w2"], ["c2"], group=8, strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Flatten", ["c2"], ["f"]),  # 8x16x16 = 2048
        helper.make_node("MatMul", ["f", "w3"], ["m"]),  # 2048 -> 10
        helper.make_node("Gemm", ["m", "w4"], ["y"], transB=1),
    ]  # 10 -> 4
    inits = [
        weight("w1", (8, 3, 3, 3)),
        weight("w2", (8, 1, 3, 3)),
        weight("w3", (2048, 10)),
        weight("w4", (4, 10)),
    ]
    path = save_model(tmp_path / "m.onnx", nodes, inits, [x], "y", ["batch", 4])
    expected = 8 * 32 * 32 * 27 + 8 * 16 * 16 * 9 + 10 * 2048 + 4 * 10
    assert multiply_adds(path) == expected


def test_demo_backbone_count_matches_its_layers():
    # compact at 128 px: five 3x3 convs (24, 48, 48, 96, 96 channels; strides 2, 2, 1, 2, 1).
    layers = [(24, 64, 3), (48, 32, 24), (48, 32, 48), (96, 16, 48), (96, 16, 96)]
    expected = sum(out * side * side * 9 * cin for out, side, cin in layers)
    assert multiply_adds(REPO / "models/demo/backbone.onnx") == expected


def test_matmul_ceiling_and_bound_run_on_the_cpu():
    assert matmul_gflops("cpu", 64, repeats=2) > 0
    import onnxruntime as ort

    session = ort.InferenceSession(matmul_model(np.eye(8) * 2), providers=["CPUExecutionProvider"])
    x = np.arange(64, dtype=np.float32).reshape(8, 8)
    (y,) = BoundRun(session, {"x": x}, ["y"])()
    np.testing.assert_array_equal(y, x * 2)
