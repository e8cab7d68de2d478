"""What a monitor and a Triton server agree on: the models' names, tensors and batch limits.

A model's name carries the sha256 of its ONNX file, so a monitor can only ever be answered by the
very graphs its own bundle holds: a server started on another bundle has no model of that name.
The per-frame activation cache stays on the monitor: the server keeps no state between requests, so
any server can take any request, and one restarting loses nothing but the requests in flight."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from streamer.inference.bundle import (
    BACKBONE_FILE,
    HEAD_FILE,
    Manifest,
)

SCHEME = "grpc"
# The head's outputs a monitor asks for: the gradients (T x h x w x k floats) are left on the
# server, the map (cam) is what is drawn.
REMOTE_HEAD_OUTPUTS = ("logits", "probs", "weights", "cam", "cam_class")
# The largest batch of frames one backbone run takes; a monitor's batch is at most 256 frames
# (inference.backbone_batch), sent in pieces of this size.
BACKBONE_MAX_BATCH = 32
# The head takes one window, as its graph does ([1, T, h, w, k]: the GRU's backward pass is
# exported for a batch of one), so it is served without batching: 1.5 ms a window on a CPU core,
# against 10-20 ms for a backbone batch, it has little to gain from it.
# How long the batcher holds a request for others to join it: 2 ms, against a backbone run of
# 10-20 ms on a CPU.
QUEUE_DELAY_US = 2000
NAME_HASH_CHARS = 12


@dataclass(frozen=True)
class ModelNames:
    backbone: str
    head: str


def model_names(manifest: Manifest) -> ModelNames:
    """The two models a bundle is served as, named by their files' checksums."""
    return ModelNames(
        backbone=f"vigil_backbone_{manifest.files[BACKBONE_FILE][:NAME_HASH_CHARS]}",
        head=f"vigil_head_{manifest.files[HEAD_FILE][:NAME_HASH_CHARS]}",
    )


def server_address(url: str) -> str:
    """'grpc://host:port' -> 'host:port' (what tritonclient takes); ValueError naming the problem."""
    parts = urlsplit(url)
    if parts.scheme != SCHEME:
        raise ValueError(f"expected a grpc://host:port URL, got scheme {parts.scheme or 'none'!r}")
    if parts.username or parts.password:
        raise ValueError("expected no user or password in the URL (the server takes none)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("expected a port number after the host") from None
    if not parts.hostname or port is None:
        raise ValueError("expected grpc://host:port, with both")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("expected nothing after host:port")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}"
