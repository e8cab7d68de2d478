"""Rewrite the exported backward pass where TensorFlow's gradient shape is slow in ONNX Runtime.

Keras runs TimeDistributed layers frame by frame, so the head slices the window into T frames;
the gradient of each slice comes back as a Pad to the whole window [1, T, h, w, k], and TF sums
the T padded copies (AddN -> Sum). That is T full-size pads and a T-way sum of full tensors, O(T^2)
memory traffic, for what is a plain Concat of the T frame gradients: measured about 40% of the demo
head's run time. This pass finds a Sum whose inputs include zero-Pads that tile one axis exactly
(disjoint, in order, covering it) and replaces them with one Concat. Overlapping pads (FrameMotion's
shifted windows) are left to the Sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper


@dataclass(frozen=True)
class PlacedBlock:
    """A Sum input that is `block` zero-padded along one axis: [begin, begin + length) of `size`."""

    sum_input: str
    block: str
    axis: int
    begin: int
    length: int
    size: int


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _placed_block(name: str, producers: dict, constants: dict) -> PlacedBlock | None:
    """The Pad that made this tensor, if it zero-pads a block of known shape along one axis."""
    pad = producers.get(name)
    if pad is None or pad.op_type != "Pad" or len(pad.input) < 2 or pad.input[1] not in constants:
        return None
    if any(a.name == "mode" and a.s not in (b"", b"constant") for a in pad.attribute):
        return None
    if (
        len(pad.input) > 2
        and pad.input[2]
        and not (pad.input[2] in constants and not np.any(constants[pad.input[2]]))
    ):
        return None
    reshape = producers.get(pad.input[0])
    if reshape is None or reshape.op_type != "Reshape" or reshape.input[1] not in constants:
        return None  # the block's size along the axis must be known
    block_shape = constants[reshape.input[1]]
    pads = constants[pad.input[1]].astype(np.int64)
    rank = len(pads) // 2
    if len(block_shape) != rank or np.any(block_shape <= 0):
        return None
    axes = [i for i in range(rank) if pads[i] or pads[rank + i]]
    if len(axes) != 1:
        return None
    axis = axes[0]
    begin, length = int(pads[axis]), int(block_shape[axis])
    return PlacedBlock(name, pad.input[0], axis, begin, length, begin + length + int(pads[rank + axis]))


def _tiling(blocks: list[PlacedBlock]) -> list[PlacedBlock] | None:
    """The blocks in order if they cover their axis exactly once, else None."""
    ordered = sorted(blocks, key=lambda b: b.begin)
    position = 0
    for block in ordered:
        if block.begin != position or block.size != ordered[0].size:
            return None
        position += block.length
    return ordered if position == ordered[0].size and len(ordered) > 1 else None


def concat_placed_blocks(model: onnx.ModelProto) -> int:
    """Replace, in place, every set of zero-Pads feeding one Sum that tiles an axis with a Concat.
    Returns how many Concats were made."""
    graph = model.graph
    constants = _constants(graph)
    producers = {out: node for node in graph.node for out in node.output}
    nodes, made = [], 0
    for node in graph.node:
        if node.op_type == "Sum":
            blocks = [
                b for b in (_placed_block(n, producers, constants) for n in node.input) if b is not None
            ]
            by_axis: dict[tuple[int, int], list[PlacedBlock]] = {}
            for block in blocks:
                by_axis.setdefault((block.axis, block.size), []).append(block)
            for (axis, _), group in by_axis.items():
                ordered = _tiling(group)
                if ordered is None:
                    continue
                joined = f"{node.name or node.output[0]}_concat{made}"
                nodes.append(
                    helper.make_node("Concat", [b.block for b in ordered], [joined], name=joined, axis=axis)
                )
                replaced = {b.sum_input for b in ordered}
                kept = [name for name in node.input if name not in replaced]
                del node.input[:]
                node.input.extend(kept + [joined])
                made += 1
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    _drop_unused(graph)
    return made


def _names_read(graph: onnx.GraphProto) -> set[str]:
    """Every tensor name a node reads, in this graph and in the subgraphs of its nodes (a Loop's
    body reads outer names without listing them as inputs)."""
    names = set()
    for node in graph.node:
        names.update(node.input)
        for attribute in node.attribute:
            for subgraph in (
                [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else attribute.graphs
            ):
                names |= _names_read(subgraph) | {o.name for o in subgraph.output}
    return names


def _drop_unused(graph: onnx.GraphProto) -> None:
    """Remove nodes whose outputs nothing reads (the Pads a Concat replaced), repeatedly."""
    while True:
        used = _names_read(graph) | {o.name for o in graph.output}
        dead = [node for node in graph.node if not any(out in used for out in node.output)]
        if not dead:
            return
        for node in dead:
            graph.node.remove(node)
