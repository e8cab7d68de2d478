"""The tf2onnx gradient handlers, op by op, against TensorFlow's own gradient kernels."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
ort = pytest.importorskip("onnxruntime")

from models.export import convert  # noqa: E402
from models.onnx_grad_ops import strided_slice_index  # noqa: E402


def onnx_gradient(fn, x: np.ndarray) -> np.ndarray:
    """d sum(w * fn(x)) / dx through tf2onnx + ONNX Runtime; w fixed so every element counts."""
    weights = np.random.default_rng(0).normal(size=fn(tf.constant(x)).shape).astype(np.float32)

    def grad(inp):
        with tf.GradientTape() as tape:
            tape.watch(inp)
            y = tf.reduce_sum(fn(inp) * weights)
        return {"dx": tape.gradient(y, inp)}

    proto = convert(grad, [tf.TensorSpec(x.shape, tf.float32, name="x")])
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = grad(tf.constant(x))["dx"].numpy()
    return session.run(["dx"], {"x": x})[0], expected


SLICES = [
    ("shrink", lambda x: x[:, 1]),
    ("range_and_stride", lambda x: x[1:3, ::2]),
    ("negative_stride", lambda x: x[::-1, 1:]),
    ("ellipsis", lambda x: x[..., 2]),
    ("new_axis", lambda x: x[:, tf.newaxis, 1:3]),
    ("begin_end_masks", lambda x: x[:2, 1:]),
    ("negative_index", lambda x: x[-1, :-2]),
    ("empty", lambda x: x[3:1]),
]

OPS = [
    ("sigmoid", tf.sigmoid),
    ("tanh", tf.tanh),
    ("relu", tf.nn.relu),
    *SLICES,
]


@pytest.mark.parametrize("name,fn", OPS, ids=[n for n, _ in OPS])
def test_gradient_handler_matches_tensorflow(name, fn):
    x = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)
    actual, expected = onnx_gradient(fn, x)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


def test_strided_slice_index_reproduces_tf_masks():
    x = np.arange(4 * 5 * 6).reshape(4, 5, 6)
    masks = {
        "begin_mask": 0b010,
        "end_mask": 0b100,
        "ellipsis_mask": 0,
        "new_axis_mask": 0,
        "shrink_axis_mask": 0b001,
    }
    index = strided_slice_index(x.shape, [2, 3, 1], [3, 0, 4], [1, 1, 2], masks)
    expected = tf.raw_ops.StridedSlice(
        input=x, begin=[2, 3, 1], end=[3, 0, 4], strides=[1, 1, 2], **masks
    ).numpy()
    np.testing.assert_array_equal(x[index], expected)


@pytest.mark.parametrize(
    "fn,op",
    [(lambda x: x[:, 1], "Pad"), (lambda x: x[1:, :-1], "Pad"), (lambda x: x[:, ::2], "ScatterElements")],
)
def test_contiguous_slices_become_a_pad(fn, op):
    """A block slice's gradient is a copy (Pad), not a scatter: the motion head slices its whole
    activation window twice, and the GRU slices every step."""

    def grad(inp):
        with tf.GradientTape() as tape:
            tape.watch(inp)
            y = tf.reduce_sum(fn(inp) ** 2)
        return {"dx": tape.gradient(y, inp)}

    proto = convert(grad, [tf.TensorSpec((4, 5), tf.float32, name="x")])
    kinds = {n.op_type for n in proto.graph.node}
    assert op in kinds and ({"Pad", "ScatterElements"} - {op}).isdisjoint(kinds), kinds
