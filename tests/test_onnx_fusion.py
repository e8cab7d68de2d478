"""Zero-Pads that tile an axis and feed one Sum become one Concat; anything else is left alone.
Each rewritten graph is run before and after in ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from models.onnx_fusion import concat_placed_blocks  # noqa: E402

T, K = 4, 3


def graph_of(ranges: list[tuple[int, int]], extra: bool = True) -> onnx.ModelProto:
    """x [1, T, K] sliced into blocks at `ranges` along axis 1, each block scaled, reshaped and
    zero-padded back to [1, T, K], summed (with x itself when extra): TF's gradient of an unstack."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, T, K])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, T, K])
    nodes, inits, summed = [], [], ["x"] if extra else []
    for i, (begin, end) in enumerate(ranges):
        inits += [
            numpy_helper.from_array(np.array(v, np.int64), f"{n}{i}")
            for n, v in (
                ("starts", [begin]),
                ("ends", [end]),
                ("axes", [1]),
                ("shape", [1, end - begin, K]),
                ("pads", [0, begin, 0, 0, T - end, 0]),
            )
        ]
        inits.append(numpy_helper.from_array(np.array(i + 2.0, np.float32), f"scale{i}"))
        nodes += [
            helper.make_node("Slice", ["x", f"starts{i}", f"ends{i}", f"axes{i}"], [f"s{i}"]),
            helper.make_node("Mul", [f"s{i}", f"scale{i}"], [f"m{i}"]),
            helper.make_node("Reshape", [f"m{i}", f"shape{i}"], [f"r{i}"]),
            helper.make_node("Pad", [f"r{i}", f"pads{i}"], [f"p{i}"]),
        ]
        summed.append(f"p{i}")
    nodes.append(helper.make_node("Sum", summed, ["y"], name="AddN"))
    model = helper.make_model(
        helper.make_graph(nodes, "g", [x], [y], initializer=inits),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 8
    return model


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x})[0]


@pytest.mark.parametrize(
    "ranges,extra,concats",
    [
        ([(0, 1), (1, 2), (2, 3), (3, 4)], True, 1),  # one block per frame, plus another term
        ([(2, 4), (0, 2)], False, 1),  # out of order, two frames each, nothing else
        ([(0, 3), (1, 4)], True, 0),  # overlapping (FrameMotion's shifted windows)
        ([(0, 1), (2, 4)], True, 0),  # a gap
        ([(0, 4)], True, 0),  # a single block: nothing to join
    ],
)
def test_pads_that_tile_an_axis_become_one_concat(ranges, extra, concats):
    model = graph_of(ranges, extra)
    x = np.random.default_rng(0).standard_normal((1, T, K)).astype(np.float32)
    expected = run(model, x)
    assert concat_placed_blocks(model) == concats
    onnx.checker.check_model(model)
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("Concat") == concats and ops.count("Pad") == (0 if concats else len(ranges))
    np.testing.assert_allclose(run(model, x), expected, rtol=1e-6)
