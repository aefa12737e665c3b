#!/usr/bin/env python
"""Train and evaluate MGCMT on TWITTER-2015/2017 (or any CoNLL data with IMGID lines) with the Trainer.

The best checkpoint is chosen on the dev split's entity F1 (seqeval default mode), never on test; the test
split is evaluated once, with that checkpoint. Results go to the log and to `all_results.json` in the
paper's Table 2 layout, predictions to `test_predictions.txt`.

Examples:

    # the embedded smoke configuration: a dataset, images and a tiny encoder written by code, offline
    python examples/run_mner.py --smoke --output_dir outputs/smoke

    # TWITTER-2015 as in the paper (text encoder from the hub, ResNet-152 grid, Mask R-CNN objects)
    accelerate launch examples/run_mner.py --dataset_name twitter2015 --data_root DATA --image_dir IMAGES \\
        --text_encoder bert-base-cased --word_vectors tweets_w2v.bin --vectors_format word2vec-binary \\
        --grid_backbone resnet152 --grid_weights pretrained --object_source detector --detector_weights pretrained \\
        --max_objects 5 --output_dir outputs/t15

Training runs unless `--do_train false` (then a given --model_name_or_path is only evaluated).

Defaults (every one can be overridden on the command line), with where each comes from:

    learning rate 3e-5, one rate for every layer         paper Sec. 4.1 (and the official release)
    batch 32 (train) / 16 (eval), max length 128          paper Sec. 4.1
    dropout 0.1, lambda 0.5 (Eq. 19)                       paper Sec. 4.1
    up to 75 epochs                                        paper Sec. 4.1 ("epochs ... 75")
    linear schedule, warm-up over the first 10 % of steps  official release (warmup_proportion 0.1)
    weight decay 0.01 (not on biases and layer norms)      official release
    dev entity F1 after every epoch; the best checkpoint   ours: the release picked epochs on test
      is kept, and training stops when dev F1 has not
      improved for --early_stopping_patience 5 epochs      ours: makes 75 a ceiling, not a cost
      (a resumed run keeps its count of epochs without
      improvement: --restore_callback_states_from_checkpoint)
    text_path_init identity (Eq. 4 starts as E^B)          ours (see MGCMTConfig.text_path_init)

The warm-up and the decay are computed from the 75-epoch ceiling, as in a run without early stopping.
`--new_layers_learning_rate` gives MGCMT's own new layers another rate; the pretrained text encoder and
a pretrained image backbone (even unfrozen) keep `--learning_rate`. `--smoke` trains its tiny random
encoder at 2e-3 for 15 epochs, with no warm-up, decay or early stopping.

`--train_sampling_strategy group_by_length` batches tweets of about the same length (much less padding: about
0.4x-0.7x the epoch time of MiniLM on TWITTER-2017 on a CPU); it is off by default, as the paper samples at random.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import sys
import time
import zipfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import transformers
from safetensors import SafetensorError, safe_open
from torch.utils.data import SequentialSampler
from transformers import (
    AutoTokenizer,
    EarlyStoppingCallback,
    HfArgumentParser,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

import mgcmt
from mgcmt import MGCMTForTokenClassification, MGCMTProcessor
from mgcmt.augmentation import SemanticAugmentationTable, WordVectors
from mgcmt.data import load_mner_dataset, split_file
from mgcmt.hub import enable_remote_code, push_run_to_hub
from mgcmt.hub_cards import build_model_card
from mgcmt.image_features import FeatureCache, feature_file_name, read_feature_file
from mgcmt.metrics import entity_scores, table2_row

logger = logging.getLogger("run_mner")

PAPER_DEFAULTS = [
    "--do_train", "true",
    "--learning_rate", "3e-5",
    "--per_device_train_batch_size", "32",
    "--per_device_eval_batch_size", "16",
    "--eval_strategy", "epoch",
    "--save_strategy", "epoch",
    "--logging_strategy", "steps",
    "--logging_steps", "10",
    "--load_best_model_at_end", "true",
    "--metric_for_best_model", "f1",
    "--greater_is_better", "true",
    "--save_total_limit", "2",
    "--report_to", "none",
    "--num_train_epochs", "75",
    "--lr_scheduler_type", "linear",
    "--warmup_steps", "0.1",  # a float below 1 is a ratio of the training steps
    "--weight_decay", "0.01",
    # a resumed run goes on counting the epochs without improvement where its checkpoint left off; the Trainer's
    # default starts early stopping's count again from zero at every resume, so a run killed and resumed would
    # train longer than the same run left alone
    "--restore_callback_states_from_checkpoint", "true",
]
LENGTH_SAMPLERS = ("group_by_length", "batch_rebalance")  # the Trainer's samplers that read a length per tweet
PRETRAINED_PARTS = (".text_encoder.", ".image_backbone.")  # name parts of the pretrained modules' parameters
SMOKE_DEFAULTS = [
    "--learning_rate", "2e-3",
    "--num_train_epochs", "15",
    "--warmup_steps", "0",
    "--weight_decay", "0",
    "--early_stopping_patience", "0",
    "--per_device_train_batch_size", "16",
    "--logging_steps", "5",
    "--use_cpu", "true",
]


@dataclass
class ModelArguments:
    text_encoder: str = field(default="bert-base-cased", metadata={"help": "Text encoder: hub id or local directory."})
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "An MGCMT checkpoint to fine-tune or evaluate instead of a new model."})
    use_semantic_augmentation: bool = field(default=True, metadata={"help": "Semantic augmentation (Eq. 2-4)."})
    use_text_image: bool = field(default=True, metadata={"help": "TextImg module (needs images or grid features)."})
    use_text_object: bool = field(default=True, metadata={"help": "TextObj module (needs an object source)."})
    use_entity_span_detection: bool = field(default=True, metadata={"help": "Auxiliary ESD task (Eq. 18-19)."})
    use_text_encoder: bool = field(default=True, metadata={"help": "Unimodal text transformer (Table 4)."})
    use_image_encoder: bool = field(default=True, metadata={"help": "Unimodal image transformer (Table 4)."})
    use_object_encoder: bool = field(default=True, metadata={"help": "Unimodal object transformer (Table 4)."})
    use_basic_level: bool = field(default=True, metadata={"help": "Basic interaction level (Table 5)."})
    use_superior_level: bool = field(default=True, metadata={"help": "Superior interaction level (Table 5)."})
    word_pooling: str = field(default="sum", metadata={"help": "'sum' (Eq. 1) or 'first' sub-token."})
    text_path_init: str = field(
        default="identity", metadata={"help": "Start of Eq. 4 and the uni-text transformer: 'identity' (the encoder's "
                                              "word states pass through at step 0) or 'random'."})
    hidden_dropout_prob: float = field(default=0.1, metadata={"help": "Dropout (the paper's 0.1)."})
    attention_probs_dropout_prob: float = field(default=0.1, metadata={"help": "Attention dropout of MGCMT's layers."})
    esd_loss_weight: float = field(default=0.5, metadata={"help": "lambda of Eq. 19."})
    new_layers_learning_rate: float | None = field(
        default=None, metadata={"help": "Learning rate of the layers MGCMT adds (default: --learning_rate for all)."})


@dataclass
class DataArguments:
    smoke: bool = field(default=False, metadata={"help": "Run on the embedded smoke data, written by code (offline)."})
    dataset_name: str | None = field(
        default=None, metadata={"help": "'twitter2015' or 'twitter2017': read from --data_root/<name>."})
    data_root: str = field(default="../shared/data", metadata={"help": "Folder holding the named datasets."})
    data_dir: str | None = field(default=None, metadata={"help": "Folder with train.txt, dev.txt (or valid.txt), test.txt."})
    image_dir: str | None = field(default=None, metadata={"help": "Folder with <IMGID>.jpg images."})
    missing_image: str = field(default="error", metadata={"help": "'error' or 'no_image' for a missing image file."})
    image_features_dir: str | None = field(
        default=None, metadata={"help": "Precomputed grid features: a folder of <IMGID>.safetensors (key 'features')."})
    grid_backbone: str = field(default="resnet152", metadata={"help": "timm backbone for grid features."})
    grid_weights: str | None = field(
        default=None, metadata={"help": "'pretrained' (timm hub), a local weights file, or none (random: tests only)."})
    object_source: str | None = field(default=None, metadata={"help": "'detector', 'captions' or none."})
    captions_file: str | None = field(
        default=None, metadata={"help": "JSON {'<IMGID>.jpg': caption} for --object_source captions "
                                        "(default: <data_dir>/image_captions_catr.json when it exists)."})
    shuffle_captions_seed: int | None = field(
        default=None, metadata={"help": "Control run for TextObj: every image gets another image's caption (a random "
                                        "derangement of --captions_file with this seed), so the layers and the number "
                                        "of objects stay and only the match between tweet and objects is lost."})
    detector: str = field(default="maskrcnn_resnet50_fpn", metadata={"help": "torchvision detector."})
    detector_weights: str | None = field(default=None, metadata={"help": "'pretrained' or a local state dict."})
    score_threshold: float = field(default=0.5, metadata={"help": "Detector score threshold."})
    max_objects: int = field(default=5, metadata={"help": "Objects per image N (Table 3: 5 for T15, 6 for T17)."})
    word_vectors: str | None = field(default=None, metadata={"help": "Word vectors for the augmentation table."})
    vectors_format: str = field(default="word2vec-binary", metadata={"help": "word2vec-binary, word2vec-text, glove, npy."})
    vectors_words: str | None = field(default=None, metadata={"help": "Word list for --vectors_format npy."})
    augmentation_table: str | None = field(default=None, metadata={"help": "A saved augmentation table folder."})
    max_length: int = field(default=128, metadata={"help": "Most sub-tokens per tweet (the paper's 128)."})
    feature_cache_dir: str | None = field(default=None, metadata={"help": "Feature cache (default <output_dir>/features)."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only this many training tweets."})
    export_code: bool = field(
        default=True, metadata={"help": "Save the model code beside the weights (auto_map, trust_remote_code)."})

    def __post_init__(self):
        if self.missing_image not in ("error", "no_image"):
            raise ValueError(f"--missing_image must be 'error' or 'no_image', got {self.missing_image!r}.")
        if self.object_source not in (None, "detector", "captions"):
            raise ValueError(f"--object_source must be 'detector', 'captions' or omitted, got {self.object_source!r}.")
        if self.dataset_name is not None and self.dataset_name not in ("twitter2015", "twitter2017"):
            raise ValueError(f"--dataset_name must be 'twitter2015' or 'twitter2017', got {self.dataset_name!r}.")


@dataclass
class MNERTrainingArguments(TrainingArguments):
    early_stopping_patience: int = field(
        default=5, metadata={"help": "Stop when dev F1 has not improved for this many evaluations (epochs); 0: never. "
                                     "Needs evaluation and --load_best_model_at_end (the defaults)."})
    early_stopping_threshold: float = field(
        default=0.0, metadata={"help": "Least dev F1 gain (in points) that counts as an improvement."})
    max_train_minutes: float | None = field(
        default=None, metadata={"help": "Wall-clock budget of training, in minutes (this process): training stops "
                                        "at the epoch end after which one more epoch, as long as the longest so far "
                                        "with its evaluation, would overrun it; the best dev checkpoint is still the "
                                        "one evaluated on test."})


class TimeBudgetCallback(TrainerCallback):
    """Ends training at an epoch end when one more epoch would overrun a wall-clock budget, so that a run on a lent
    machine finishes with results instead of being killed at its deadline.

    The budget counts from the callback's creation (the setup is part of it). An epoch's length is the time from
    the start of training or the previous epoch end, so it holds the previous epoch's evaluation and checkpoint;
    the longest so far is the estimate of the next. The epoch that ends the training still gets its evaluation
    and checkpoint.
    """

    def __init__(self, minutes: float, clock=time.monotonic):
        self.seconds = minutes * 60
        self.clock = clock
        self.start = self.last = clock()
        self.longest = 0.0
        self.stopped = False

    def on_train_begin(self, args, state, control, **kwargs):
        self.last = self.clock()  # the first epoch's length leaves out the setup

    def on_epoch_end(self, args, state, control, **kwargs):
        now = self.clock()
        self.longest = max(self.longest, now - self.last)
        self.last = now
        if now - self.start + self.longest > self.seconds:
            logger.info("Time budget of %.1f min: %.1f min used, and one more epoch would take about %.1f: "
                        "training stops after epoch %.0f.", self.seconds / 60, (now - self.start) / 60,
                        self.longest / 60, state.epoch)
            control.should_training_stop = True
            self.stopped = True
        return control


def early_stopping_callbacks(args: MNERTrainingArguments) -> list:
    """transformers' EarlyStoppingCallback when the arguments allow it: evaluation on, best model kept."""
    if args.early_stopping_patience < 0:
        raise ValueError(f"--early_stopping_patience must be >= 0, got {args.early_stopping_patience}.")
    if args.early_stopping_patience == 0 or not args.do_train:
        return []
    if args.eval_strategy == "no" or not args.load_best_model_at_end:
        logger.info("No early stopping: it needs evaluation during training and --load_best_model_at_end true.")
        return []
    return [EarlyStoppingCallback(args.early_stopping_patience, args.early_stopping_threshold)]


def stopping_callbacks(args: MNERTrainingArguments) -> list:
    """Early stopping on dev F1 (when allowed) and the wall-clock budget (when given)."""
    callbacks = early_stopping_callbacks(args)
    if args.max_train_minutes is not None:
        if args.max_train_minutes <= 0:
            raise ValueError(f"--max_train_minutes must be > 0, got {args.max_train_minutes}.")
        callbacks.append(TimeBudgetCallback(args.max_train_minutes))
    return callbacks


class MGCMTTrainer(Trainer):
    """Trainer with a separate learning rate for MGCMT's new layers, and a clear stop on a non-finite loss.

    The pretrained parts (the text encoder, and the image backbone when it is part of the model and unfrozen) keep
    `--learning_rate`; every other trainable parameter is a new layer of MGCMT and gets `new_layers_learning_rate`.
    """

    def __init__(self, *args, new_layers_learning_rate: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.new_layers_learning_rate = new_layers_learning_rate

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        if not torch.isfinite(loss).all():
            raise FloatingPointError(
                f"The training loss is {loss.item()} at step {self.state.global_step + 1} (epoch {self.state.epoch:.2f}); "
                "lower the learning rate, or check the inputs of that batch."
            )
        return loss

    def _get_eval_sampler(self, eval_dataset):
        """The dataset's order for dev and test whatever `--train_sampling_strategy` (transformers would also group the
        evaluation by length, in a shuffled order): predictions are written tweet by tweet in the file's order."""
        if self.args.train_sampling_strategy not in LENGTH_SAMPLERS:
            return super()._get_eval_sampler(eval_dataset)
        if eval_dataset is None or self.args.world_size > 1:  # several processes: accelerate shards in order
            return None
        return SequentialSampler(eval_dataset)

    def create_optimizer(self, model=None):
        if self.new_layers_learning_rate is None or self.optimizer is not None:
            return super().create_optimizer(model)
        model = self.model if model is None else model
        decay = set(self.get_decay_parameter_names(model))
        groups = {}
        for name, parameter in model.named_parameters():
            if not parameter.requires_grad:
                continue
            pretrained = any(part in f".{name}" for part in PRETRAINED_PARTS)
            lr = self.args.learning_rate if pretrained else self.new_layers_learning_rate
            weight_decay = self.args.weight_decay if name in decay else 0.0
            groups.setdefault((lr, weight_decay), []).append(parameter)
        optimizer_class, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
        optimizer_kwargs.pop("lr", None)
        self.optimizer = optimizer_class(
            [{"params": params, "lr": lr, "weight_decay": wd} for (lr, wd), params in groups.items()], **optimizer_kwargs)
        return self.optimizer


class MNERCollator:
    """Rows of the dataset -> model inputs, through the processor; grid features are read from the feature folder."""

    def __init__(self, processor: MGCMTProcessor, features_dir: str | None, objects_dir: str | None = None):
        self.processor = processor
        self.features_dir = features_dir
        self.objects_dir = objects_dir

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        image_ids = [row["image_id"] for row in rows]
        features = object_ids = None
        if self.features_dir is not None:
            features = [read_feature_file(self.features_dir, image_id) for image_id in image_ids]
        if self.objects_dir is not None:  # detector output, cached: tweets without image get no objects
            object_ids = [read_feature_file(self.objects_dir, image_id) for image_id in image_ids]
            object_ids = [ids.tolist() if ids is not None else [] for ids in object_ids]
        try:
            batch = self.processor(
                [row["tokens"] for row in rows], labels=[row["ner_tags"] for row in rows], image_ids=image_ids,
                image_features=features, object_ids=object_ids, is_split_into_words=True)
        except ValueError as error:  # "Tweet i" counts within the batch: name the dataset's tweets too
            tweets = ", ".join(f"{i}: id {row['id']} (IMGID {row['image_id']})" for i, row in enumerate(rows))
            raise ValueError(f"{error} Tweets of this batch: {tweets}.") from error
        return dict(batch)


# -- checkpoints, the output folder's lock, the arguments of a resumed run --------------------------------------------
LOCK_FILE = ".run_mner.lock"
ARGUMENTS_FILE = "run_arguments.json"
# training arguments that may change between a run and its resumption without changing what is trained
RESUME_FREE_ARGUMENTS = {"resume_from_checkpoint", "hub_token", "max_train_minutes", "disable_tqdm", "local_rank",
                         "dataloader_num_workers", "logging_dir", "run_name", "per_device_eval_batch_size"}


def checkpoint_problem(checkpoint: Path) -> str | None:
    """Why a checkpoint folder cannot be resumed from (a run killed while writing it), or `None` when it is complete."""
    state = checkpoint / "trainer_state.json"
    if not state.is_file():
        return "no trainer_state.json"
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "trainer_state.json is unreadable"
    weights = sorted(checkpoint.glob("model*.safetensors"))
    if not weights:
        return "no model.safetensors"
    for path in weights:  # safetensors checks the header and that the data covers it: a cut file does not open
        try:
            with safe_open(str(path), framework="pt"):
                pass
        except (SafetensorError, OSError) as error:
            return f"{path.name} is truncated or unreadable ({error})"
    for name in ("optimizer.pt", "scheduler.pt"):  # torch.save writes zip archives; a cut one has no directory
        path = checkpoint / name
        if path.exists() and not zipfile.is_zipfile(path):
            return f"{name} is truncated or unreadable"
    return None


def last_complete_checkpoint(output_dir: str) -> str | None:
    """The newest checkpoint folder of `output_dir` that is complete; incomplete newer ones are named in a warning."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    steps = []
    for path in folder.glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        suffix = path.name[len(PREFIX_CHECKPOINT_DIR) + 1:]
        if path.is_dir() and suffix.isdigit():
            steps.append((int(suffix), path))
    for _, path in sorted(steps, reverse=True):
        problem = checkpoint_problem(path)
        if problem is None:
            return str(path)
        logger.warning("Skipping the incomplete checkpoint %s (%s): the run was probably killed while writing it.",
                       path, problem)
    return None


@contextmanager
def output_dir_lock(training_args):
    """Hold `<output_dir>/.run_mner.lock` for the run (main process), so that a second run on the same folder stops
    at once instead of overwriting this one's model and checkpoints. The lock ends with the process."""
    if training_args.process_index != 0:
        yield
        return
    from filelock import FileLock, Timeout

    Path(training_args.output_dir).mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(Path(training_args.output_dir) / LOCK_FILE))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RuntimeError(f"Another run is using --output_dir {training_args.output_dir!r} (it holds "
                           f"{Path(training_args.output_dir) / LOCK_FILE}); wait for it to end, or choose another "
                           "--output_dir.") from None
    try:
        yield
    finally:
        lock.release()


def run_arguments(model_args, data_args, training_args) -> dict:
    training = {key: value for key, value in training_args.to_dict().items() if key not in RESUME_FREE_ARGUMENTS}
    return json.loads(json.dumps({"model": asdict(model_args), "data": asdict(data_args), "training": training},
                                 default=str))


def warn_on_changed_arguments(output_dir: str, arguments: dict) -> None:
    """Compare a resumed run's arguments with those its checkpoints were trained with; warn naming each change."""
    path = Path(output_dir) / ARGUMENTS_FILE
    if not path.is_file():
        return
    try:
        before = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        logger.warning("Cannot read %s: the arguments of the resumed run are not compared.", path)
        return
    changes = [f"--{key} {before.get(group, {}).get(key)!r} -> {value!r}"
               for group, values in arguments.items() for key, value in values.items()
               if key in before.get(group, {}) and before[group][key] != value]
    if changes:
        logger.warning("Resuming a run with other arguments than its checkpoints were trained with: %s.",
                       "; ".join(changes))


def check_tweet_lengths(processor: MGCMTProcessor, dataset) -> dict[str, list[int]]:
    """Every split's tweets fit `max_length`, checked before training (not at the first test batch after it).

    Returns each split's sub-token counts (special tokens counted), so that nothing tokenizes a split twice.
    """
    counts, problems = {}, []
    for split, rows in dataset.items():
        counts[split] = processor.sub_token_counts(rows["tokens"])
        for index, count in enumerate(counts[split]):
            if count > processor.max_length:
                problems.append(f"{split_file(rows)}:{rows[index]['line']}: tweet IMGID:{rows[index]['image_id']} "
                                f"({split}) has {count} sub-tokens")
    if problems:
        shown = "\n  ".join(problems[:10]) + (f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise ValueError(f"{len(problems)} tweet(s) are over --max_length {processor.max_length} (nothing is truncated "
                         f"silently): raise --max_length.\n  {shown}")
    return counts


def add_length_column(lengths: list[int], dataset, training_args: MNERTrainingArguments) -> None:
    """The train split's sub-token counts (`lengths`, from `check_tweet_lengths`) as the column the Trainer's
    length-aware samplers read.

    `--train_sampling_strategy group_by_length` draws batches of tweets of about the same length (a random order of
    megabatches, each sorted by length), so a batch pads to little more than its own tweets: on TWITTER-2017 a random
    batch of 32 pads to 1.7 times its sub-tokens. Without the column the Trainer would tokenize from `input_ids`,
    which raw rows do not have.
    """
    if training_args.train_sampling_strategy not in LENGTH_SAMPLERS:
        return
    column = training_args.length_column_name
    if column in dataset["train"].column_names:
        raise ValueError(f"The train split already has a column {column!r}: choose another --length_column_name.")
    dataset["train"] = dataset["train"].add_column(column, lengths)
    logger.info("--train_sampling_strategy %s: batches of tweets of about the same length (%.1f sub-tokens on "
                "average, %d at most)", training_args.train_sampling_strategy, sum(lengths) / len(lengths), max(lengths))


def check_coverage(dataset, what: str, has, required: bool = True) -> None:
    """Log, per split, how many tweets `has` (an image's grid features, objects, ...); fail on a split with none."""
    for split, rows in dataset.items():
        count = sum(bool(has(image_id)) for image_id in rows["image_id"])
        logger.info("%s: %d of %d tweets have %s", split, count, len(rows), what)
        if count == 0 and required:
            raise ValueError(f"No tweet of the {split} split ({split_file(rows)}) has {what}: check the image ids "
                             "against the files, or switch the module off.")


def has_feature_file(directory: str):
    """Whether an image id has its file in a per-image feature folder (for `check_coverage`)."""
    return lambda image_id: (Path(directory) / feature_file_name(image_id)).is_file()


CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # the x86 instructions that make bf16 matrix products fast


def warn_on_slow_cpu_bf16(training_args, cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Warn (and return True) when --bf16 autocast is asked for on a CPU whose flags show no bf16 instructions.

    There torch falls back to a reference bf16 matrix product: a training step about 14x slower than in fp32
    (docs/PERFORMANCE.md). Where the flags cannot be read (not Linux, not x86) nothing is said.
    """
    if not training_args.bf16 or training_args.device.type != "cpu":
        return False
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    flags = {flag for line in text.splitlines() if line.startswith("flags") for flag in line.partition(":")[2].split()}
    if not flags or "avx2" not in flags or any(flag in flags for flag in CPU_BF16_FLAGS):
        return False
    logger.warning("--bf16 true on a CPU without %s (%s): bf16 autocast is much slower than fp32 there (about 14x "
                   "per training step, docs/PERFORMANCE.md); use --bf16 false on this machine.",
                   " or ".join(CPU_BF16_FLAGS), cpuinfo)
    return True


def parse_arguments(argv: list[str]) -> tuple[ModelArguments, DataArguments, MNERTrainingArguments]:
    parser = HfArgumentParser((ModelArguments, DataArguments, MNERTrainingArguments), description=__doc__,
                              formatter_class=_HelpFormatter)
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(json_file=os.path.abspath(argv[0]))
    flags = PAPER_DEFAULTS + (SMOKE_DEFAULTS if "--smoke" in argv else [])
    # as parser defaults (strings, parsed like the command line), so that --help shows them and any flag overrides them
    parser.set_defaults(**{name.lstrip("-"): value for name, value in zip(flags[::2], flags[1::2])})
    return parser.parse_args_into_dataclasses(args=argv)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """--help keeps the module docstring's layout and shows every default."""


def resolve_data(data_args: DataArguments, model_args: ModelArguments, output_dir: str) -> None:
    """Fill the smoke settings, or the data folder of a named dataset; check paths."""
    if data_args.smoke:
        from mgcmt.smoke import write_smoke_assets

        assets = write_smoke_assets(Path(output_dir) / "smoke_assets")
        data_args.data_dir, data_args.image_dir = assets["data_dir"], assets["image_dir"]
        data_args.captions_file = assets["captions_file"]
        data_args.object_source = data_args.object_source or "captions"  # the drawn images also take a detector
        data_args.word_vectors, data_args.vectors_format = assets["word_vectors"], "word2vec-text"
        data_args.grid_backbone, data_args.grid_weights = "resnet10t", None
        data_args.missing_image = "no_image"
        model_args.text_encoder = assets["text_encoder"]
        return
    if data_args.data_dir is None:
        if data_args.dataset_name is None:
            raise ValueError("Give --data_dir, --dataset_name (twitter2015/twitter2017) or --smoke.")
        data_args.data_dir = str(Path(data_args.data_root) / data_args.dataset_name)
    if not Path(data_args.data_dir).is_dir():
        raise FileNotFoundError(f"Data folder {data_args.data_dir!r} does not exist.")
    for name in ("image_dir", "image_features_dir", "augmentation_table", "word_vectors"):
        value = getattr(data_args, name)
        if value is not None and not Path(value).exists():
            raise FileNotFoundError(f"--{name} {value!r} does not exist.")
    if data_args.object_source == "captions" and data_args.captions_file is None:
        default = Path(data_args.data_dir) / "image_captions_catr.json"
        if not default.is_file():
            raise FileNotFoundError(f"--object_source captions needs --captions_file (no {default}).")
        data_args.captions_file = str(default)
    if data_args.captions_file is not None:
        data_args.captions_file = str(Path(data_args.captions_file).resolve())


def deranged_captions(captions_file: str, seed: int, output_dir: Path) -> str:
    """Write `captions_file` with each image given the caption of another image; return the new file's path.

    The images are put in a random order (`seed`) and each takes the caption of the next one, the last the first's:
    no image keeps its own caption, and every caption is used once.
    """
    with open(captions_file, encoding="utf-8") as handle:
        captions = json.load(handle)
    if not isinstance(captions, dict) or len(captions) < 2:
        raise ValueError(f"{captions_file}: --shuffle_captions_seed needs a JSON object with at least two captions.")
    order = random.Random(seed).sample(sorted(captions), len(captions))
    deranged = {image: captions[order[(i + 1) % len(order)]] for i, image in enumerate(order)}
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / f"captions_deranged_s{seed}.json"
    path.write_text(json.dumps(deranged, indent=0, sort_keys=True), encoding="utf-8")
    return str(path.resolve())


def augmentation_table(data_args: DataArguments, dataset) -> SemanticAugmentationTable | None:
    if data_args.augmentation_table is not None:
        return SemanticAugmentationTable.from_pretrained(data_args.augmentation_table)
    if data_args.word_vectors is None:
        return None
    vectors = WordVectors.load(data_args.word_vectors, data_args.vectors_format, data_args.vectors_words)
    vocabulary = sorted({word for split in dataset.values() for tokens in split["tokens"] for word in tokens})
    return SemanticAugmentationTable.build(vocabulary, vectors, source=Path(data_args.word_vectors).name)


def extract_grid_features(processor: MGCMTProcessor, dataset, data_args: DataArguments, output_dir: str) -> str | None:
    """Run the grid backbone once over every image of every split (cached); return the features folder."""
    if data_args.image_features_dir is not None:
        return data_args.image_features_dir
    if data_args.image_dir is None:
        return None
    return cache_every_image(processor.grid_extractor(), dataset, data_args, output_dir, "grid features")


def cache_every_image(extractor, dataset, data_args: DataArguments, output_dir: str, what: str) -> str:
    """Run `extractor` once over every image of every split, through the feature cache (batched, each batch written
    as it is done, with a progress bar); return the cache folder, which the collator reads: no extraction at batch
    time. A corrupt image is a missing one with --missing_image no_image (logged), an error otherwise."""
    cache = FeatureCache(data_args.feature_cache_dir or Path(output_dir) / "features", extractor.identity)
    pairs = _image_paths(dataset)
    image_ids = sorted(pairs)
    unreadable = "skip" if data_args.missing_image == "no_image" else "raise"
    cache.compute(image_ids, [pairs[i] for i in image_ids], extractor, progress=True, unreadable=unreadable)
    if cache.skipped:
        logger.warning("%s: %d unreadable image(s) read as tweets without image (--missing_image no_image): %s",
                       what, len(cache.skipped), ", ".join(cache.skipped[:10]) + (" ..." if len(cache.skipped) > 10 else ""))
    logger.info("%s of %d images in %s", what, len(image_ids) - len(cache.skipped), cache.directory)
    return str(cache.directory)


def grid_shape(features_dir: str, dataset) -> tuple[int, int]:
    """(regions, channels) of the grid features, read from the first image that has them."""
    for split in dataset.values():
        for image_id in split["image_id"]:
            features = read_feature_file(features_dir, image_id)
            if features is not None:
                return tuple(features.shape)
    raise FileNotFoundError(f"No grid features for any image of the dataset in {features_dir!r}.")


def _image_paths(dataset) -> dict[str, str]:
    return {image_id: path for split in dataset.values() for image_id, path in zip(split["image_id"], split["image_path"])
            if path is not None}


def detect_objects(processor: MGCMTProcessor, dataset, data_args: DataArguments, output_dir: str) -> str:
    """Run the detector once over every image (cached, batched, with a progress bar); return the ids folder."""
    if data_args.image_dir is None:
        raise ValueError("--object_source detector needs --image_dir.")
    return cache_every_image(processor.object_extractor(), dataset, data_args, output_dir, "objects")


def tags_of(ids, id2label) -> list[str]:
    return [id2label[int(i)] for i in ids if int(i) != -100]


def main(argv: list[str] | None = None, callbacks: list | None = None) -> dict:
    model_args, data_args, training_args = parse_arguments(sys.argv[1:] if argv is None else argv)
    with output_dir_lock(training_args):
        return run(model_args, data_args, training_args, callbacks)


def run(model_args: ModelArguments, data_args: DataArguments, training_args: MNERTrainingArguments,
        callbacks: list | None = None) -> dict:
    """Train (unless --do_train false), choose the checkpoint on dev, evaluate test once; return the results."""
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%m/%d/%Y %H:%M:%S",
                        handlers=[logging.StreamHandler(sys.stdout)], force=True)
    level = logging.INFO if training_args.should_log else logging.WARNING
    logger.setLevel(level)
    logging.getLogger("mgcmt").setLevel(level)
    if training_args.log_level != "passive":
        transformers.utils.logging.set_verbosity(training_args.get_process_log_level())
    logger.info("mgcmt %s, transformers %s; training arguments: %s", mgcmt.__version__, transformers.__version__,
                training_args.to_json_string() if training_args.should_log else "")
    set_seed(training_args.seed)

    with training_args.main_process_first(desc="writing smoke assets"):
        resolve_data(data_args, model_args, training_args.output_dir)
        if data_args.shuffle_captions_seed is not None:
            if data_args.object_source != "captions" or not model_args.use_text_object:
                raise ValueError("--shuffle_captions_seed is a control for TextObj with --object_source captions.")
            data_args.captions_file = deranged_captions(
                data_args.captions_file, data_args.shuffle_captions_seed, Path(training_args.output_dir) / "control")
    checkpoint = None
    if training_args.do_train:
        checkpoint = training_args.resume_from_checkpoint or last_complete_checkpoint(training_args.output_dir)
        if training_args.process_index == 0:
            arguments = run_arguments(model_args, data_args, training_args)
            if checkpoint is not None:
                warn_on_changed_arguments(training_args.output_dir, arguments)
            (Path(training_args.output_dir) / ARGUMENTS_FILE).write_text(json.dumps(arguments, indent=2) + "\n",
                                                                         encoding="utf-8")
    dataset = load_mner_dataset(data_args.data_dir, image_dir=data_args.image_dir, missing_image=data_args.missing_image)
    if data_args.max_train_samples is not None:
        dataset["train"] = dataset["train"].select(range(min(data_args.max_train_samples, len(dataset["train"]))))
    label_names = dataset["train"].features["ner_tags"].feature.names
    for split, rows in dataset.items():
        logger.info("%s: %d tweets (%s)", split, len(rows), rows.info.description)

    use_images = model_args.use_text_image and (data_args.image_dir or data_args.image_features_dir)
    if model_args.use_text_image and not use_images:
        logger.warning("No --image_dir or --image_features_dir: TextImg is switched off (use_text_image=False).")
        model_args.use_text_image = False
    if model_args.use_text_object and data_args.object_source is None:
        logger.warning("No --object_source: TextObj is switched off (use_text_object=False).")
        model_args.use_text_object = False
    table = augmentation_table(data_args, dataset) if model_args.use_semantic_augmentation else None
    if model_args.use_semantic_augmentation and table is None:
        raise ValueError("Semantic augmentation is on: give --word_vectors or --augmentation_table "
                         "(or --use_semantic_augmentation false).")

    source = model_args.model_name_or_path or model_args.text_encoder
    tokenizer = AutoTokenizer.from_pretrained(source)
    processor = MGCMTProcessor(
        tokenizer, table, max_length=data_args.max_length, label_names=label_names,
        grid_backbone=data_args.grid_backbone if use_images and not data_args.image_features_dir else None,
        grid_weights=data_args.grid_weights, object_source=data_args.object_source if model_args.use_text_object else None,
        detector=data_args.detector, detector_weights=data_args.detector_weights,
        score_threshold=data_args.score_threshold, captions_file=data_args.captions_file,
        max_objects=data_args.max_objects, cache_dir=data_args.feature_cache_dir)
    sub_tokens = check_tweet_lengths(processor, dataset)  # every split now, not the test split after hours of training
    add_length_column(sub_tokens["train"], dataset, training_args)
    features_dir = None
    image_feature_size, image_grid_length = 2048, 49
    if use_images:
        with training_args.main_process_first(desc="grid features"):  # the other processes read the cache
            features_dir = extract_grid_features(processor, dataset, data_args, training_args.output_dir)
        check_coverage(dataset, f"grid features in {features_dir}", has_feature_file(features_dir))
        image_grid_length, image_feature_size = grid_shape(features_dir, dataset)
        processor.image_grid_length, processor.image_feature_size = image_grid_length, image_feature_size
    objects_dir = None
    if data_args.object_source == "detector" and model_args.use_text_object:
        with training_args.main_process_first(desc="object detection"):
            objects_dir = detect_objects(processor, dataset, data_args, training_args.output_dir)
        check_coverage(dataset, f"detected objects in {objects_dir}", has_feature_file(objects_dir))
    if data_args.object_source == "captions" and model_args.use_text_object:
        captions = processor.object_extractor()  # read and checked now, naming the file, not at the first batch
        check_coverage(dataset, f"a caption in {data_args.captions_file}", captions.has)
        check_coverage(dataset, "at least one caption object", lambda image_id: bool(captions.ids_for(image_id).any()),
                       required=False)  # an empty caption is a tweet without objects (the no-objects control)

    id2label = dict(enumerate(label_names))
    set_seed(training_args.seed)  # the new layers' initialisation depends on the seed alone
    if model_args.model_name_or_path is not None:
        model = MGCMTForTokenClassification.from_pretrained(model_args.model_name_or_path)
        if model.config.id2label != id2label:
            raise ValueError(f"The labels of {model_args.model_name_or_path!r} {list(model.config.id2label.values())} "
                             f"do not match the dataset's {label_names}.")
    else:
        model = MGCMTForTokenClassification.from_text_pretrained(
            model_args.text_encoder, id2label=id2label,
            use_semantic_augmentation=model_args.use_semantic_augmentation,
            augmentation_size=table.dim if table is not None else 200,
            use_text_image=model_args.use_text_image, image_feature_size=image_feature_size,
            image_grid_length=image_grid_length, use_text_object=model_args.use_text_object,
            max_objects=data_args.max_objects, use_entity_span_detection=model_args.use_entity_span_detection,
            use_text_encoder=model_args.use_text_encoder, use_image_encoder=model_args.use_image_encoder,
            use_object_encoder=model_args.use_object_encoder, use_basic_level=model_args.use_basic_level,
            use_superior_level=model_args.use_superior_level, word_pooling=model_args.word_pooling,
            text_path_init=model_args.text_path_init,
            hidden_dropout_prob=model_args.hidden_dropout_prob,
            attention_probs_dropout_prob=model_args.attention_probs_dropout_prob, esd_loss_weight=model_args.esd_loss_weight)
    logger.info("MGCMT: %d parameters (%d trainable); %d process(es) on %s, global train batch %d",
                model.num_parameters(), model.num_parameters(only_trainable=True), training_args.world_size,
                training_args.device, training_args.per_device_train_batch_size * training_args.world_size
                * training_args.gradient_accumulation_steps)
    warn_on_slow_cpu_bf16(training_args)

    def compute_metrics(eval_prediction) -> dict[str, float]:
        predictions, label_ids = eval_prediction.predictions, eval_prediction.label_ids
        predictions = predictions[0] if isinstance(predictions, tuple) else predictions
        gold = [tags_of(row, id2label) for row in label_ids]
        pred = [tags_of(p[: len(g)], id2label) for p, g in zip(predictions, gold)]
        return table2_row(entity_scores(gold, pred))

    training_args.remove_unused_columns = False
    push_to_hub = training_args.push_to_hub
    training_args.push_to_hub = False  # the Trainer would push every checkpoint; we push the final run once
    if data_args.export_code:
        enable_remote_code()
    stopping = stopping_callbacks(training_args)
    trainer = MGCMTTrainer(
        model=model, args=training_args, train_dataset=dataset["train"], eval_dataset=dataset["validation"],
        data_collator=MNERCollator(processor, features_dir, objects_dir), processing_class=tokenizer,
        compute_metrics=compute_metrics, callbacks=stopping + list(callbacks or []),
        new_layers_learning_rate=model_args.new_layers_learning_rate)

    results = {}
    if training_args.do_train:
        if checkpoint is not None:
            logger.info("Resuming from %s", checkpoint)
        train_result = trainer.train(resume_from_checkpoint=checkpoint)
        trainer.save_model()
        trainer.save_state()
        processor.save_pretrained(training_args.output_dir)
        results.update(train_result.metrics)
        budget = [callback for callback in stopping if isinstance(callback, TimeBudgetCallback)]
        results["stopped_by_time_budget"] = bool(budget and budget[0].stopped)
        # training is over: the final evaluations below are not epochs to stop on. By type, since a resumed run's
        # Trainer replaces the early-stopping callback with one rebuilt from the checkpoint's state
        for callback in stopping:
            trainer.remove_callback(type(callback))
        if trainer.state.best_model_checkpoint:
            results["best_checkpoint"] = Path(trainer.state.best_model_checkpoint).name
            results["best_validation_f1"] = trainer.state.best_metric
    dev = trainer.evaluate(dataset["validation"], metric_key_prefix="validation")
    test = trainer.predict(dataset["test"], metric_key_prefix="test")  # once, with the dev-selected model
    results.update(dev)
    results.update(test.metrics)
    if trainer.is_world_process_zero():
        write_outputs(training_args.output_dir, dataset["test"], test, id2label, results)
        write_card(training_args, model_args, data_args, model, results)
        if push_to_hub:
            repo_id = training_args.hub_model_id or Path(training_args.output_dir).name
            push_run_to_hub(training_args.output_dir, repo_id, token=training_args.hub_token,
                            private=training_args.hub_private_repo)
    return results


def write_card(training_args, model_args, data_args, model, results: dict) -> None:
    """README.md of the output folder: the Hub card with the dev and test results."""
    dataset_name = {"twitter2015": "TWITTER-2015", "twitter2017": "TWITTER-2017"}.get(
        data_args.dataset_name, Path(data_args.data_dir).name if not data_args.smoke else "mgcmt smoke data")
    encoder = model_args.text_encoder
    base_model = None if Path(encoder).exists() else encoder  # local paths are not Hub ids
    training = {
        "text encoder": encoder, "learning rate": training_args.learning_rate,
        "new layers learning rate": model_args.new_layers_learning_rate or training_args.learning_rate,
        "epochs (ceiling)": training_args.num_train_epochs, "epochs trained": results.get("epoch"),
        "max steps": training_args.max_steps,
        "schedule": f"{training_args.lr_scheduler_type}, warm-up {training_args.warmup_steps}",
        "weight decay": training_args.weight_decay,
        "early stopping patience (epochs)": training_args.early_stopping_patience,
        "text path init": model.config.text_path_init,
        "batch size (train, per device)": training_args.per_device_train_batch_size,
        "seed": training_args.seed, "best checkpoint (chosen on validation F1)": results.get("best_checkpoint"),
        "semantic augmentation vectors": data_args.augmentation_table or data_args.word_vectors,
        "grid backbone": f"{data_args.grid_backbone} ({data_args.grid_weights})" if model.config.use_text_image else "off",
        "objects": (data_args.object_source or "off") + (
            f" (control: captions of other images, seed {data_args.shuffle_captions_seed})"
            if data_args.shuffle_captions_seed is not None else ""),
    }
    card = build_model_card(
        model.config, results, model_name=training_args.hub_model_id or Path(training_args.output_dir).name,
        repo_id=training_args.hub_model_id or Path(training_args.output_dir).name, dataset_name=dataset_name,
        base_model=base_model, training=training)
    card.save(Path(training_args.output_dir) / "README.md")


def write_outputs(output_dir: str, test_split, test, id2label: dict, results: dict) -> None:
    predictions = test.predictions[0] if isinstance(test.predictions, tuple) else test.predictions
    lines = []
    for index, (row, prediction) in enumerate(zip(test_split, predictions)):
        gold = [id2label[i] for i in row["ner_tags"]]
        if test.label_ids is not None and list(test.label_ids[index][: len(gold)]) != list(row["ner_tags"]):
            raise RuntimeError(f"The test predictions are not in the test file's order (tweet {index}, IMGID "
                               f"{row['image_id']}): test_predictions.txt would pair tweets with other predictions.")
        pred = tags_of(prediction[: len(gold)], id2label)
        lines.append(f"IMGID:{row['image_id']}")
        lines += [f"{token}\t{g}\t{p}" for token, g, p in zip(row["tokens"], gold, pred)]
        lines.append("")
    Path(output_dir, "test_predictions.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = ["split       PER    LOC    ORG    MISC |  P      R      F1"]
    for split in ("validation", "test"):
        row = [results.get(f"{split}_{key}", math.nan) for key in
               ("PER_f1", "LOC_f1", "ORG_f1", "MISC_f1", "precision", "recall", "f1")]
        table.append(f"{split:<10} " + " ".join(f"{v:6.2f}" for v in row[:4]) + " | " +
                     " ".join(f"{v:6.2f}" for v in row[4:]))
    logger.info("Entity F1 (seqeval default mode), best checkpoint chosen on validation:\n%s", "\n".join(table))
    Path(output_dir, "all_results.json").write_text(json.dumps(results, indent=2, default=float) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
