#!/usr/bin/env bash
# The model benchmark at BERT-base size on a GPU, bf16 and fp32, random weights, no network: a few minutes.
# Usage (on a GPU machine, in the repository root, with the package installed): bash benchmarks/gpu.sh
set -euo pipefail
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python benchmarks/bench_model.py --size base --device cuda --dtype bf16 --steps 20
python benchmarks/bench_model.py --size base --device cuda --dtype fp32 --steps 20
python benchmarks/bench_model.py --size base --device cuda --dtype bf16 --steps 20 --batch_size 128
