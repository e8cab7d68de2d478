"""`vigil serve BUNDLE`: one bundle on a Triton Inference Server, for many monitors.

Runs on PyPI's Triton (nvidia-pytriton: the server binary with its Python backend) in Triton's own
Python environment (`make venv-triton`; PyTriton pins numpy<2, the monitor's does not). Each model
is a Python function over the bundle's own ONNX Runtime sessions, so its answers are the local
ones; Triton adds the KServe v2 protocol on gRPC and HTTP, its dynamic batcher (requests from every
monitor merged into one backbone run) and its Prometheus metrics (`nv_inference_*`). The production
server with the onnxruntime and TensorRT backends takes `vigil export --triton` instead."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sysconfig
from dataclasses import dataclass

import numpy as np

from streamer.inference.bundle import (
    ACTIVATIONS,
    FRAMES_INPUT,
    HEAD_FILE,
    TARGET_INPUT,
    TOP_CLASS,
    Bundle,
    open_bundle,
    output_dtype,
)
from streamer.serving.protocol import (
    BACKBONE_MAX_BATCH,
    QUEUE_DELAY_US,
    REMOTE_HEAD_OUTPUTS,
    model_names,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    grpc_port: int = 8001
    http_port: int = 8000
    metrics_port: int = 8002
    providers: tuple[str, ...] = ("cuda", "cpu")
    threads: int = 0
    queue_delay_us: int = QUEUE_DELAY_US


def backbone_function(bundle: Bundle):
    """Triton's batch of frames (every waiting request's, merged) through the backbone at once."""
    from pytriton.decorators import batch

    @batch
    def infer(**inputs):
        return {ACTIVATIONS: bundle.backbone(inputs[FRAMES_INPUT])}

    return infer


def head_function(bundle: Bundle):
    """Each request's window through the head; the requests Triton hands over together are
    stacked along the first axis, as the head's own [1, ...] shapes are."""
    from pytriton.decorators import batch

    @batch
    def infer(**inputs):
        answers = [
            bundle.head(window, target=None if target == TOP_CLASS else int(target))
            for window, target in zip(inputs[ACTIVATIONS], inputs[TARGET_INPUT])
        ]
        return {
            name: np.stack([np.asarray(getattr(a, name), output_dtype(name)) for a in answers])
            for name in REMOTE_HEAD_OUTPUTS
        }

    return infer


def bind_bundle(triton, bundle: Bundle, queue_delay_us: int) -> None:
    """The bundle's backbone and head as two Triton models, named by their files' checksums."""
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor

    m = bundle.manifest
    (h, w), (ah, aw, k), t = m.input_size, m.activation_shape, m.frames
    names = model_names(m)
    batcher = DynamicBatcher(max_queue_delay_microseconds=queue_delay_us)
    triton.bind(
        model_name=names.backbone,
        infer_func=backbone_function(bundle),
        inputs=[Tensor(name=FRAMES_INPUT, dtype=np.uint8, shape=(h, w, 3))],
        outputs=[Tensor(name=ACTIVATIONS, dtype=np.float32, shape=(ah, aw, k))],
        config=ModelConfig(max_batch_size=BACKBONE_MAX_BATCH, batcher=batcher),
        strict=True,
    )
    _, head_outputs = m.expected_io()[HEAD_FILE]
    triton.bind(  # the head.onnx's own shapes, a window a request, as in the production repository
        model_name=names.head,
        infer_func=head_function(bundle),
        inputs=[
            Tensor(name=ACTIVATIONS, dtype=np.float32, shape=(1, t, ah, aw, k)),
            Tensor(name=TARGET_INPUT, dtype=np.int32, shape=(1,)),
        ],
        outputs=[
            Tensor(
                name=name,
                dtype=output_dtype(name),
                shape=tuple(head_outputs[name]),
            )
            for name in REMOTE_HEAD_OUTPUTS
        ],
        config=ModelConfig(batching=False),
        strict=True,
    )
    logger.info("serving %s as %s and %s", bundle.directory, names.backbone, names.head)


def serve(bundle_dir: str, options: ServeOptions) -> int:
    """Serve until SIGINT or SIGTERM."""
    from pytriton.triton import Triton, TritonConfig

    prefer_own_libpython()
    check_ports_free(options)
    bundle = open_bundle(bundle_dir, options.providers, options.threads)
    config = TritonConfig(
        http_address=options.host,
        http_port=options.http_port,
        grpc_address=options.host,
        grpc_port=options.grpc_port,
        metrics_address=options.host,
        metrics_port=options.metrics_port,
        allow_gpu_metrics=False,
        exit_on_error=True,
    )
    signal.signal(signal.SIGTERM, _stop_as_interrupt)  # systemd's stop: as Ctrl+C, which Triton handles
    with Triton(config=config) as triton:
        bind_bundle(triton, bundle, options.queue_delay_us)
        logger.info(
            "Triton serving on grpc://%s:%d (HTTP %d, metrics http://%s:%d/metrics)",
            options.host,
            options.grpc_port,
            options.http_port,
            options.host,
            options.metrics_port,
        )
        triton.serve()  # returns on SIGINT (and so SIGTERM) or when the server process dies
    return 0


def check_ports_free(options: ServeOptions) -> None:
    """A taken port is one line naming the option: Triton itself would wait minutes for a server
    that never comes up."""
    for flag, port in (
        ("--grpc-port", options.grpc_port),
        ("--http-port", options.http_port),
        ("--metrics-port", options.metrics_port),
    ):
        with socket.socket(socket.AF_INET6 if ":" in options.host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no user
            try:
                probe.bind((options.host, port))
            except OSError as err:
                raise ValueError(
                    f"{flag}: cannot listen on {options.host}:{port} ({err.strerror or err}; another "
                    "server running?): pick another port"
                ) from None


def prefer_own_libpython() -> None:
    """Triton's Python backend stub links libpython by name: on a machine with two Pythons of one
    version (a pyenv 3.11.7 beside Debian's 3.11.2) it finds the system's, which fails on this
    interpreter's standard library ('RLock' object has no attribute '_recursion_count'). Put this
    interpreter's own library first for the server processes PyTriton starts."""
    libdir, library = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME")
    if libdir and library and os.path.isfile(os.path.join(libdir, library)):
        paths = [libdir, *filter(None, os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep))]
        os.environ["LD_LIBRARY_PATH"] = os.pathsep.join(dict.fromkeys(paths))


def _stop_as_interrupt(*_) -> None:
    raise KeyboardInterrupt
