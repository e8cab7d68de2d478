"""A bundle run by an inference server (Triton, over gRPC) instead of local ONNX Runtime sessions:
the same backbone() and head() as Bundle, so the inference worker and its per-frame cache do not
change. A server that is down or restarting is tried again with backoff; while it is away,
`ready()` is False and the worker drops (and counts) what it samples."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from streamer.inference.bundle import (
    ACTIVATIONS,
    FRAMES_INPUT,
    HEAD_FILE,
    TARGET_INPUT,
    TOP_CLASS,
    Bundle,
    BundleError,
    Explanation,
    Manifest,
    read_manifest,
    verify_checksums,
)
from streamer.serving.protocol import BACKBONE_MAX_BATCH, REMOTE_HEAD_OUTPUTS, model_names, server_address

logger = logging.getLogger(__name__)

RETRY_MIN_S = 0.5
RETRY_MAX_S = 10.0


class InferenceUnavailable(Exception):
    """The server did not answer (down, restarting, too slow, or not serving this bundle)."""


class RemoteBundle:
    """A bundle's manifest, checked on this machine, and its graphs on a Triton server."""

    def __init__(
        self,
        directory: Path,
        manifest: Manifest,
        url: str,
        timeout_s: float,
        local_head: Bundle | None = None,
    ):
        import tritonclient.grpc as triton  # the 'remote' extra: only a monitor that names a server needs it

        self.directory, self.manifest, self.url, self.timeout_s = directory, manifest, url, timeout_s
        self.local_head = local_head  # the head on this machine's ONNX Runtime, the backbone there
        self.names = model_names(manifest)
        self._triton = triton
        self._client = triton.InferenceServerClient(server_address(url))
        self._retry_at = 0.0
        self._retry_s = RETRY_MIN_S
        self.up = False
        self._problem = ""

    @property
    def provider(self) -> str:
        return f"server {self.url}" + (" (head here)" if self.local_head else "")

    # ------------------------------------------------------------ availability
    def ready(self) -> bool:
        """True while the server serves this bundle. After a failure, asks it again only when
        the backoff has passed (0.5 s, doubling to 10 s), so a dead server costs no CPU."""
        if self.up:
            return True
        now = time.monotonic()
        if now < self._retry_at:
            return False
        try:
            served = all(
                self._client.is_model_ready(name, client_timeout=self.timeout_s) for name in self._models()
            )
            problem = "" if served else self._not_served()
        except Exception as err:  # grpc's and tritonclient's own errors: the server is not there
            problem = f"unreachable ({_reason(err)})"
        if not problem:
            self.up, self._retry_s, self._problem = True, RETRY_MIN_S, ""
            logger.info("inference server %s: serving %s", self.url, self.directory.name)
            return True
        self._failed(problem, now)
        return False

    def _models(self) -> tuple[str, ...]:
        return (self.names.backbone,) if self.local_head else (self.names.backbone, self.names.head)

    def _not_served(self) -> str:
        return (
            f"up, but this bundle's models ({', '.join(self._models())}) are not ready: "
            f"still loading, or it serves another bundle (run `vigil serve {self.directory}` there)"
        )

    def _failed(self, problem: str, now: float) -> None:
        if problem != self._problem:  # said once, not at every retry
            logger.error("inference server %s: %s; trying again with backoff", self.url, problem)
        self.up, self._problem = False, problem
        self._retry_at = now + self._retry_s
        self._retry_s = min(RETRY_MAX_S, self._retry_s * 2)

    def _infer(self, model: str, inputs: list, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        try:
            result = self._client.infer(
                model,
                inputs,
                outputs=[self._triton.InferRequestedOutput(name) for name in outputs],
                client_timeout=self.timeout_s,
            )
        except Exception as err:
            self._failed(f"unreachable ({_reason(err)})", time.monotonic())
            raise InferenceUnavailable(f"{self.url}: {_reason(err)}") from None
        return {name: result.as_numpy(name) for name in outputs}

    def _tensor(self, name: str, array: np.ndarray, kind: str):
        tensor = self._triton.InferInput(name, list(array.shape), kind)
        tensor.set_data_from_numpy(np.ascontiguousarray(array))
        return tensor

    # ------------------------------------------------------------ the graphs
    def warm_up(self) -> None:
        """Nothing to warm here: the server warms its own sessions."""

    def backbone(self, frames: np.ndarray) -> np.ndarray:
        """uint8 frames [N, H, W, 3] at model resolution -> activations [N, h, w, k], in pieces
        the server's batch limit takes."""
        h, w = self.manifest.input_size
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[1:] != (h, w, 3):
            raise ValueError(
                f"frames: expected [N, {h}, {w}, 3] uint8, got {list(frames.shape)} {frames.dtype}"
            )
        pieces = [
            self._infer(
                self.names.backbone,
                [self._tensor(FRAMES_INPUT, frames[i : i + BACKBONE_MAX_BATCH], "UINT8")],
                (ACTIVATIONS,),
            )[ACTIVATIONS]
            for i in range(0, len(frames), BACKBONE_MAX_BATCH)
        ]
        return np.concatenate(pieces)

    def head(self, activations: np.ndarray, target: int | None = None) -> Explanation:
        """One window's activations [T, h, w, k] -> decision and per-frame map (no gradients: they
        stay on the server)."""
        if self.local_head is not None:
            return self.local_head.head(activations, target)
        expected = (self.manifest.frames, *self.manifest.activation_shape)
        if activations.shape != expected:
            raise ValueError(f"head: expected activations of shape {expected}, got {activations.shape}")
        if target is not None and not 0 <= target < len(self.manifest.classes):
            raise ValueError(f"target class: expected 0..{len(self.manifest.classes) - 1}, got {target}")
        wanted = np.array([TOP_CLASS if target is None else target], np.int32)
        out = self._infer(
            self.names.head,
            [
                self._tensor(ACTIVATIONS, activations[None].astype(np.float32, copy=False), "FP32"),
                self._tensor(TARGET_INPUT, wanted, "INT32"),
            ],
            REMOTE_HEAD_OUTPUTS,
        )
        logits, probs, weights, cam, cam_class = (out[name][0] for name in REMOTE_HEAD_OUTPUTS)
        return Explanation(logits, probs, weights, None, cam, int(np.ravel(cam_class)[0]))


def _reason(err: Exception) -> str:
    """The first line of a client error, without its class names."""
    text = getattr(err, "message", None)
    text = text() if callable(text) else text
    return (str(text or err).strip().splitlines() or [type(err).__name__])[0][:200]


def open_remote(directory: str | Path, url: str, timeout_s: float, server_head: bool = True) -> RemoteBundle:
    """The bundle's manifest and checksums, checked here as for a local bundle, served by `url`
    (the head too, or here). A server that is not up yet is not an error: the monitor starts, and
    analyses once it is."""
    directory = Path(directory)
    if not directory.is_dir():
        raise BundleError(f"{directory}: not a directory")
    manifest = read_manifest(directory)
    verify_checksums(directory, manifest)
    local_head = None
    if not server_head:
        local_head = Bundle(directory, manifest, ("cpu",), threads=1)
        local_head.session(HEAD_FILE)  # a broken head.onnx fails here, not at the first window
    remote = RemoteBundle(directory, manifest, url, timeout_s, local_head)
    remote.ready()
    return remote
