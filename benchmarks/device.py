"""Runs whose inputs already live on the session's device (ONNX Runtime I/O binding): what a
window costs when the activation cache is kept on the GPU instead of copied up each window."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from streamer.inference.providers import GPU_PROVIDERS


def session_device(session: ort.InferenceSession) -> str:
    """'cuda' when the session runs on the GPU, else 'cpu': where its inputs should live."""
    return "cuda" if session.get_providers()[0] in GPU_PROVIDERS else "cpu"


def upload(array: np.ndarray, device: str) -> ort.OrtValue:
    """A host array copied onto the device (the copy a host-side cache pays every window)."""
    return ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array), device, 0)


class BoundRun:
    """One session call with its inputs placed on the device once; each call then moves no input
    bytes. fetch=True copies the bound outputs back to the host, as a caller that reads them must."""

    def __init__(
        self,
        session: ort.InferenceSession,
        feeds: dict[str, np.ndarray],
        outputs: list[str],
        fetch: bool = True,
    ):
        self.session, self.fetch = session, fetch
        device = session_device(session)
        self.inputs = {name: upload(array, device) for name, array in feeds.items()}  # kept alive
        self.binding = session.io_binding()
        for name, value in self.inputs.items():
            self.binding.bind_ortvalue_input(name, value)
        for name in outputs:
            self.binding.bind_output(name, device)

    def __call__(self) -> list[np.ndarray] | None:
        self.session.run_with_iobinding(self.binding)
        if self.fetch:
            return self.binding.copy_outputs_to_cpu()
        self.binding.synchronize_outputs()
        return None
