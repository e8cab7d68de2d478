"""tf2onnx handlers for the TensorFlow gradient ops it lacks, so a GradientTape graph exports.

tf2onnx 1.17 has no handlers for gradient kernels ("ONNX does not store gradients"). A Grad-CAM
graph needs the ops the head's backward pass produces: an unrolled GRU gives SigmoidGrad, TanhGrad
and StridedSliceGrad; ReLU dense layers give ReluGrad; the motion head's smooth |change| SqrtGrad.
Each is a few elementwise ONNX ops.
Importing this module registers them.
"""

from __future__ import annotations

import numpy as np
from tf2onnx import utils
from tf2onnx.handler import tf_op


def _const_like(ctx, node, tensor_name: str, value: float) -> str:
    dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(tensor_name))
    return ctx.make_const(utils.make_name(f"{node.name}_c"), np.array(value, dtype=dtype)).output[0]


def _become_mul(ctx, node, left: str, right: str) -> None:
    node.type = "Mul"
    node.attr.clear()
    ctx.replace_inputs(node, [left, right])


@tf_op("SigmoidGrad")
class SigmoidGrad:
    """SigmoidGrad(y, dy) = dy * y * (1 - y), with y = sigmoid(x)."""

    @classmethod
    def version_1(cls, ctx, node, **kwargs):
        y, dy = node.input
        one_minus_y = ctx.make_node("Sub", [_const_like(ctx, node, y, 1.0), y]).output[0]
        slope = ctx.make_node("Mul", [y, one_minus_y]).output[0]
        _become_mul(ctx, node, dy, slope)


@tf_op("TanhGrad")
class TanhGrad:
    """TanhGrad(y, dy) = dy * (1 - y^2), with y = tanh(x)."""

    @classmethod
    def version_1(cls, ctx, node, **kwargs):
        y, dy = node.input
        y_squared = ctx.make_node("Mul", [y, y]).output[0]
        slope = ctx.make_node("Sub", [_const_like(ctx, node, y, 1.0), y_squared]).output[0]
        _become_mul(ctx, node, dy, slope)


@tf_op("SqrtGrad")
class SqrtGrad:
    """SqrtGrad(y, dy) = dy * 0.5 / y, with y = sqrt(x) (the motion head's smooth |change|)."""

    @classmethod
    def version_1(cls, ctx, node, **kwargs):
        y, dy = node.input
        slope = ctx.make_node("Div", [_const_like(ctx, node, y, 0.5), y]).output[0]
        _become_mul(ctx, node, dy, slope)


@tf_op("ReluGrad")
class ReluGrad:
    """ReluGrad(dy, x) = dy * (x > 0)."""

    @classmethod
    def version_1(cls, ctx, node, **kwargs):
        dy, x = node.input
        positive = ctx.make_node("Greater", [x, _const_like(ctx, node, x, 0.0)]).output[0]
        mask = ctx.make_node("Cast", [positive], attr={"to": ctx.get_dtype(dy)}).output[0]
        _become_mul(ctx, node, dy, mask)


def strided_slice_index(shape, begin, end, strides, masks: dict[str, int]) -> tuple:
    """The numpy index that reproduces TF's StridedSlice with these constants and bit masks."""
    index = []
    for i in range(len(begin)):
        bit = 1 << i
        if masks["ellipsis_mask"] & bit:
            index.append(Ellipsis)
        elif masks["new_axis_mask"] & bit:
            index.append(np.newaxis)
        elif masks["shrink_axis_mask"] & bit:
            index.append(int(begin[i]))
        else:
            start = None if masks["begin_mask"] & bit else int(begin[i])
            stop = None if masks["end_mask"] & bit else int(end[i])
            index.append(slice(start, stop, int(strides[i])))
    return tuple(index)


def contiguous_pads(shape, index: tuple) -> tuple[list[int], list[int]] | None:
    """For a slice that takes one contiguous block (steps of 1, single indices, no new or elided
    axes): the block's shape with taken-out axes kept as 1, and ONNX Pad's pads that put it back
    in place. None for any other slice."""
    if len(index) > len(shape):
        return None
    block, before, after = [], [], []
    for size, item in zip(shape, list(index) + [slice(None)] * (len(shape) - len(index))):
        if isinstance(item, int):
            start = item + size if item < 0 else item
            stop = start + 1
        elif isinstance(item, slice) and item.step in (None, 1):
            start, stop, _ = item.indices(size)
            stop = max(start, stop)
        else:
            return None
        block.append(stop - start)
        before.append(start)
        after.append(size - stop)
    return block, before + after


@tf_op("StridedSliceGrad")
class StridedSliceGrad:
    """StridedSliceGrad(shape, begin, end, strides, dy): dy put back into zeros of `shape`.

    All but dy must be constants (they are for static shapes). A contiguous block (the GRU's
    per-step slices, FrameMotion's shifted windows) becomes a Pad: a copy. Any other slice becomes
    a ScatterElements whose positions are worked out here with numpy's own slicing, so every mask
    combination matches TF exactly; it costs several times a Pad on large tensors.
    """

    @classmethod
    def version_11(cls, ctx, node, **kwargs):
        shape_in, begin_in, end_in, strides_in, dy = node.input
        constants = []
        for name, producer in zip(("shape", "begin", "end", "strides"), node.inputs[:4]):
            if not producer.is_const():
                raise ValueError(
                    f"StridedSliceGrad {node.name}: {name} must be constant (export with a static batch size)"
                )
            constants.append(producer.get_tensor_value(as_list=False))
        shape, begin, end, strides = constants
        masks = {
            k: node.get_attr_value(k, 0)
            for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")
        }
        index = strided_slice_index(shape, begin, end, strides, masks)
        padding = contiguous_pads(tuple(int(n) for n in shape), index)
        if padding is not None:
            block, pads = padding
            block_shape = ctx.make_const(
                utils.make_name(f"{node.name}_block"), np.asarray(block, np.int64)
            ).output[0]
            placed = ctx.make_node("Reshape", [dy, block_shape]).output[0]
            pads_const = ctx.make_const(
                utils.make_name(f"{node.name}_pads"), np.asarray(pads, np.int64)
            ).output[0]
            node.type = "Pad"
            node.attr.clear()
            ctx.replace_inputs(node, [placed, pads_const])
            return
        size = int(np.prod(shape))
        positions = np.arange(size, dtype=np.int64).reshape(shape)[index].reshape(-1)

        dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(dy))
        zeros = ctx.make_const(utils.make_name(f"{node.name}_zeros"), np.zeros(size, dtype)).output[0]
        flat_shape = ctx.make_const(utils.make_name(f"{node.name}_flat"), np.array([-1], np.int64)).output[0]
        flat_dy = ctx.make_node("Reshape", [dy, flat_shape]).output[0]
        where = ctx.make_const(utils.make_name(f"{node.name}_at"), positions).output[0]
        scattered = ctx.make_node("ScatterElements", [zeros, where, flat_dy], attr={"axis": 0}).output[0]
        out_shape = ctx.make_const(
            utils.make_name(f"{node.name}_shape"), np.asarray(shape, dtype=np.int64)
        ).output[0]
        node.type = "Reshape"
        node.attr.clear()
        ctx.replace_inputs(node, [scattered, out_shape])
