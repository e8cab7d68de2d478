"""The inference worker: sampling at the model's fps, backbone once per frame, head per window."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from streamer.capture.ring import FrameRing
from streamer.config import InferenceConfig
from streamer.inference.bundle import open_bundle
from streamer.inference.worker import InferenceWorker, Sampler
from streamer.metrics import build_metrics
from streamer.types import Frame
from tests.conftest import make_frames


def test_ring_drops_oldest_and_counts():
    ring = FrameRing(3)
    for i in range(5):
        ring.put(Frame("a", i, float(i), np.zeros((1, 1, 3), np.uint8)))
    assert ring.dropped == 2
    assert [f.seq for f in ring.drain()] == [2, 3, 4]
    assert len(ring) == 0


@pytest.mark.parametrize(
    "stamps,taken",
    [
        ([0.0, 0.04, 0.08, 0.2, 0.24, 0.4], [0.0, 0.2, 0.4]),  # 25 fps camera, 5 fps model
        ([0.0, 0.1, 0.2, 0.3], [0.0, 0.2]),  # 10 fps camera
        ([0.0, 5.0, 5.1, 5.2], [0.0, 5.0, 5.2]),  # a gap restarts the grid
    ],
)
def test_sampler_takes_frames_at_model_rate(stamps, taken):
    sampler = Sampler(5.0)
    assert [t for t in stamps if sampler.take(t)] == taken


class CountingBundle:
    """The real bundle, counting how many frames go through the backbone."""

    def __init__(self, bundle):
        self.inner, self.manifest, self.backbone_frames = bundle, bundle.manifest, 0

    def backbone(self, frames):
        self.backbone_frames += len(frames)
        return self.inner.backbone(frames)

    def head(self, activations, target=None):
        return self.inner.head(activations, target)


def test_each_frame_through_the_backbone_once_and_cams_equal_the_full_graph(tiny_bundle):
    bundle = CountingBundle(open_bundle(tiny_bundle, providers=("cpu",)))
    t = bundle.manifest.frames  # 3 frames at 5 fps
    images = make_frames(9, 48, 64, seed=3)
    ring = FrameRing(64)
    analyses = []
    worker = InferenceWorker(
        InferenceConfig(stride=1, backbone_batch=4),
        bundle,
        {"cam": ring},
        threading.Event(),
        analyses.append,
        build_metrics(),
    )
    for i, image in enumerate(images):
        ring.put(Frame("cam", i, i * 0.2, image))  # already at the model's rate
        worker._collect()
        while any(worker.pending.values()):
            worker.step()
    assert bundle.backbone_frames == 9  # not 7 windows x 3 frames
    assert len(analyses) == 9 - t + 1
    from streamer.inference.frames import to_model_input

    for a in analyses:
        window = np.stack([to_model_input(images[s], (32, 32)) for s in a.seqs])
        assert a.seqs == tuple(range(a.seqs[0], a.seqs[0] + t))
        probs = bundle.inner.full(window).probs
        likeliest_anomaly = 1 + int(np.argmax(probs[1:]))  # classes: normal, fight, shooting
        assert a.explained == likeliest_anomaly  # even when normal wins
        full = bundle.inner.full(window, target=likeliest_anomaly)
        np.testing.assert_allclose(a.probs, probs, atol=1e-5)
        np.testing.assert_allclose(a.maps, full.cam, atol=1e-4 * max(1.0, float(np.abs(full.cam).max())))
        # the window's frames ride along: the alert's snapshot is one of them
        assert all(np.array_equal(img, images[seq]) for img, seq in zip(a.images, a.seqs, strict=True))


def test_falling_behind_skips_and_counts(tiny_bundle):
    bundle = open_bundle(tiny_bundle, providers=("cpu",))
    ring, metrics = FrameRing(64), build_metrics()
    worker = InferenceWorker(
        InferenceConfig(stride=2, backbone_batch=4),
        bundle,
        {"cam": ring},
        threading.Event(),
        lambda a: None,
        metrics,
    )
    for i in range(20):
        ring.put(Frame("cam", i, i * 0.2, make_frames(1, 32, 32)[0]))
    worker._collect()
    skipped = metrics.registry.get_sample_value(
        "vigil_frames_dropped_total", {"camera": "cam", "reason": "analysis_backlog"}
    )
    assert skipped == 18  # keeps max(2, stride) = 2: the newest
    assert [f.seq for f, _ in worker.pending["cam"]] == [18, 19]
