"""The arithmetic a graph needs and what the device can do: multiply-adds per frame of an ONNX
backbone (shapes from a real run of the graph), and a large MatMul timed on the same execution provider as
the practical ceiling. Their ratio says how close a backbone's time is to its physical limit."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _observed_shapes(model: onnx.ModelProto, names: list[str]) -> dict[str, list[int]]:
    """Shapes of these tensors in a real batch-1 run of the graph. Static shape inference stops
    at data-dependent sizes (the backbones' reflect padding computes its pads), a run does not."""
    import onnxruntime as ort

    from streamer.inference.providers import session_options

    model = onnx.ModelProto.FromString(model.SerializeToString())
    del model.graph.output[:]
    model.graph.output.extend(helper.make_empty_tensor_value_info(name) for name in names)
    session = ort.InferenceSession(
        model.SerializeToString(), sess_options=session_options(), providers=["CPUExecutionProvider"]
    )
    feeds = {}
    for graph_input in session.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in graph_input.shape]
        dtype = np.uint8 if "uint8" in graph_input.type else np.float32
        feeds[graph_input.name] = np.zeros(shape, dtype)
    return {name: list(value.shape) for name, value in zip(names, session.run(names, feeds))}


def multiply_adds(path: str | Path) -> int:
    """Multiply-adds of one graph run at batch 1: Conv (grouped and depthwise too), MatMul, Gemm.
    Element-wise ops, pooling and activations are left out: a few percent for CNN backbones."""
    model = onnx.load(str(path))
    graph = model.graph
    initializers = {t.name: list(t.dims) for t in graph.initializer}
    counted = [node for node in graph.node if node.op_type in ("Conv", "MatMul", "Gemm")]
    wanted = {name for node in counted for name in (node.input[0], node.input[1], node.output[0])}
    shapes = {**_observed_shapes(model, sorted(wanted - set(initializers))), **initializers}
    total = 0
    for node in counted:
        a, b, out = (shapes[name] for name in (node.input[0], node.input[1], node.output[0]))
        if node.op_type == "Conv":
            total += math.prod(out) * math.prod(b[1:])  # each output: C/groups x kh x kw
        else:
            transposed = node.op_type == "Gemm" and any(x.name == "transA" and x.i for x in node.attribute)
            total += math.prod(out) * (a[-2] if transposed else a[-1])
    return total


def matmul_model(weights: np.ndarray) -> bytes:
    """x @ weights for x [n, n] with constant float32 weights [n, n], like a convolution's weights:
    ONNX Runtime packs constant weights once at load, so this is the densest arithmetic it runs."""
    n = weights.shape[0]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, n])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, weights.shape[1]])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "matmul",
        [x],
        [y],
        initializer=[numpy_helper.from_array(weights.astype(np.float32), "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def matmul_gflops(provider: str, n: int, repeats: int = 5) -> float:
    """Measured GFLOP/s (2 per multiply-add) of an n x n x n MatMul on one provider ("cpu",
    "cuda", ...), its input already on the device so that no copy is counted."""
    import onnxruntime as ort

    from benchmarks.device import BoundRun
    from streamer.inference.providers import PROVIDERS, session_options

    rng = np.random.default_rng(0)
    session = ort.InferenceSession(
        matmul_model(rng.standard_normal((n, n), np.float32)),
        sess_options=session_options(),
        providers=[PROVIDERS[provider]],
    )
    run = BoundRun(session, {"x": rng.standard_normal((n, n), np.float32)}, ["y"], fetch=False)
    run()
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best / 1e9
