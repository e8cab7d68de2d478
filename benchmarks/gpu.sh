#!/usr/bin/env bash
# Both benchmarks on a GPU machine, in under 8 minutes, JSON into OUT (default benchmarks/results/gpu).
#
#   bash benchmarks/gpu.sh [OUT]
#
# Needs Python 3.11+, an NVIDIA driver and PyPI (it installs the project with its 'train' extra
# into .venv-gpu: onnxruntime-gpu's CUDA and TensorRT providers, TensorFlow to export the models).
# TensorRT engines are cached in OUT/cache, so a second run skips their minutes-long build; the
# first run's build time is in the JSON ("open_and_warm_up_s").
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-benchmarks/results/gpu}
mkdir -p "$out"
export VIGIL_CACHE_DIR="$out/cache" PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2

if [ ! -x .venv-gpu/bin/python ]; then
    python3 -m venv .venv-gpu
    .venv-gpu/bin/pip install -q --upgrade pip
    .venv-gpu/bin/pip install -q -e '.[train]'
fi
py=.venv-gpu/bin/python
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.csv"
$py -c 'import onnxruntime as ort; print("providers:", ort.get_available_providers())'

# Inference: VGG19 (the paper's) and the demo's compact backbone, T=16, on TensorRT, CUDA and the CPU.
timeout 300 $py benchmarks/inference.py --backbones vgg19,compact --providers tensorrt,cuda,cpu \
    --repeats 20 --batches 1,4,16,32 --out "$out/inference-gpu.json" > /dev/null
# Pipeline: the demo model on CUDA, 720p and 1080p sources, cameras until analysis drops.
timeout 150 $py benchmarks/pipeline.py --bundle models/demo --providers cuda,cpu --cameras 1,4,8 \
    --resolutions 1280x720,1920x1080 --seconds 10 --out "$out/pipeline-gpu.json" > /dev/null
echo "written: $out/inference-gpu.json $out/pipeline-gpu.json"
