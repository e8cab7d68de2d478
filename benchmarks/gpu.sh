#!/usr/bin/env bash
# Both benchmarks on a GPU machine, in under 8 minutes, JSON and PNG plots into OUT
# (default benchmarks/results/gpu). Providers the machine lacks are listed as skipped.
#
#   bash benchmarks/gpu.sh [OUT] [--quick]
#
# Installs the project with its 'train' and 'bench' extras into .venv-gpu (onnxruntime-gpu's CUDA
# and TensorRT providers; TensorFlow to export the models): from PyPI, or with WHEELS=DIR from a
# folder of wheels on a machine without a registry. PYTHON=path uses an existing environment.
# TensorRT engines are cached in OUT/cache, so a second run skips their minutes-long build; the
# first run's build time is in the JSON ("open_and_warm_up_s"). --quick: tiny sizes, to check the
# script itself (the test suite runs it so on the CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-benchmarks/results/gpu}
quick=${2:-}
mkdir -p "$out"
export VIGIL_CACHE_DIR="$out/cache" PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2

py=${PYTHON:-.venv-gpu/bin/python}
if [ -z "${PYTHON:-}" ] && [ ! -x "$py" ]; then
    python3 -m venv .venv-gpu
    pip=(.venv-gpu/bin/pip install -q ${WHEELS:+--no-index --find-links "$WHEELS"})
    "${pip[@]}" --upgrade pip
    "${pip[@]}" -e '.[train,bench]'
fi
if command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.csv"
else
    echo "no nvidia-smi: no NVIDIA GPU here, GPU providers will be skipped"
fi
"$py" -c 'import onnxruntime as ort; print("providers:", ort.get_available_providers())'

if [ "$quick" = --quick ]; then
    inference=(--backbones compact --quick)
    pipeline=(--quick --bundle models/demo)
else
    # VGG19 (the paper's) and the demo's compact backbone, T=16; TensorRT FP16 and FP32, CUDA, CPU.
    inference=(--backbones vgg19,compact --repeats 20 --batches 1,4,16,32)
    # The demo model and a VGG19 shaped like it on CUDA, 720p and 1080p, cameras until analysis drops.
    pipeline=(--bundle models/demo --export vgg19 --cameras 1,4,8,16 --resolutions 1280x720,1920x1080
              --seconds 8)
fi
timeout 330 "$py" -m benchmarks.inference "${inference[@]}" --providers tensorrt-fp16,tensorrt,cuda,cpu \
    --out "$out/inference-gpu.json" > /dev/null
timeout 120 "$py" -m benchmarks.pipeline "${pipeline[@]}" --providers cuda,cpu \
    --out "$out/pipeline-gpu.json" > /dev/null
"$py" -m benchmarks.plot "$out/inference-gpu.json" "$out/pipeline-gpu.json"
echo "written: $out/inference-gpu.json $out/pipeline-gpu.json"
