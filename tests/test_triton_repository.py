"""`vigil export BUNDLE --triton DIR`: the production Triton server's model repository, named as
monitors ask for the models, its configs parsed as Triton's own ModelConfig and checked against the
graphs, and the graphs answering as the bundle does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from streamer.inference.bundle import BundleError, open_bundle, read_manifest
from streamer.serving.protocol import BACKBONE_MAX_BATCH, model_names
from streamer.serving.repository import CONFIG_FILE, check_repository, read_config, write_repository

pytest.importorskip("tritonclient.grpc")
REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "models" / "demo"


def vigil(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vigil", *args], capture_output=True, text=True, timeout=300)


def test_the_repository_holds_the_models_monitors_ask_for_and_they_answer_as_the_bundle(tmp_path):
    done = vigil("export", str(DEMO), "--triton", str(tmp_path / "repo"))
    assert done.returncode == 0, done.stderr
    names = model_names(read_manifest(DEMO))
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == sorted([names.backbone, names.head])
    assert "answers as the bundle's within 0.0e+00" in done.stdout
    backbone = read_config(tmp_path / "repo" / names.backbone)
    assert backbone.backend == "onnxruntime" and backbone.max_batch_size == BACKBONE_MAX_BATCH
    assert backbone.HasField("dynamic_batching") and not backbone.HasField("optimization")
    head = read_config(tmp_path / "repo" / names.head)
    assert head.max_batch_size == 0 and not head.HasField("dynamic_batching")
    # The head's target class is a plain input there (Triton's backend lists graph inputs only).
    session = ort.InferenceSession(str(tmp_path / "repo" / names.head / "1" / "model.onnx"))
    assert "target_class" in [i.name for i in session.get_inputs()]
    assert "target_class" not in [i.name for i in ort.InferenceSession(str(DEMO / "head.onnx")).get_inputs()]


def test_tensorrt_fp16_is_for_the_backbone_only_and_a_second_export_replaces_the_first(tmp_path):
    repo = tmp_path / "repo"
    write_repository(DEMO, repo)
    (repo / "other_model").mkdir()  # a repository holds other models too: left alone
    report = write_repository(DEMO, repo, tensorrt_fp16=True)
    accelerators = read_config(report.backbone).optimization.execution_accelerators.gpu_execution_accelerator
    assert [(a.name, a.parameters["precision_mode"]) for a in accelerators] == [("tensorrt", "FP16")]
    assert not read_config(report.head).HasField("optimization")  # the map is computed in FP32
    assert sorted(p.name for p in repo.iterdir()) == sorted(
        [report.backbone.name, report.head.name, "other_model"]
    )


def test_a_config_that_does_not_match_its_graph_is_named(tmp_path):
    report = write_repository(DEMO, tmp_path / "repo")
    config = (report.backbone / CONFIG_FILE).read_text()
    (report.backbone / CONFIG_FILE).write_text(config.replace("dims: 96", "dims: 64"))
    with pytest.raises(BundleError, match=r"config.pbtxt: 'activations': dims \[16, 16, 64\]"):
        check_repository(open_bundle(DEMO, ("cpu",), warm_up=False), report.backbone, report.head)


def test_a_damaged_bundle_is_one_line(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for path in DEMO.iterdir():
        if path.is_file():
            (bundle / path.name).write_bytes(path.read_bytes())
    with open(bundle / "head.onnx", "r+b") as f:
        f.seek(100)
        f.write(np.random.default_rng(0).bytes(64))
    done = vigil("export", str(bundle), "--triton", str(tmp_path / "repo"))
    assert done.returncode == 1
    assert (
        done.stderr.strip().splitlines()[-1].startswith("vigil export: ") and "sha256 mismatch" in done.stderr
    )
    assert not (tmp_path / "repo").exists()
