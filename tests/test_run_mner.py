"""examples/run_mner.py end to end on the embedded smoke data: results, resume, two processes, bad input."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForTokenClassification, TrainerCallback, TrainerControl, TrainerState

from mgcmt import MGCMTProcessor
from mgcmt.metrics import entity_scores, table2_row

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("run_mner", ROOT / "examples" / "run_mner.py")
run_mner = importlib.util.module_from_spec(spec)
sys.modules["run_mner"] = run_mner
spec.loader.exec_module(run_mner)

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("timm") is None or importlib.util.find_spec("gensim") is None,
    reason="the training script needs the dev extras (timm, gensim, datasets, accelerate)",
)

QUICK = ["--smoke", "--use_cpu", "true", "--disable_tqdm", "true", "--dataloader_num_workers", "0"]
NO_DROPOUT = ["--hidden_dropout_prob", "0", "--attention_probs_dropout_prob", "0"]


def test_smoke_run_writes_table_predictions_and_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "run"
    results = run_mner.main(QUICK + ["--output_dir", str(out), "--num_train_epochs", "4"])
    for split in ("validation", "test"):
        for key in ("PER_f1", "LOC_f1", "ORG_f1", "MISC_f1", "precision", "recall", "f1"):
            assert 0.0 <= results[f"{split}_{key}"] <= 100.0
    assert results["best_checkpoint"].startswith("checkpoint-")
    assert results["validation_f1"] == pytest.approx(results["best_validation_f1"])  # the dev-selected model
    saved = json.loads((out / "all_results.json").read_text())
    assert saved["test_f1"] == pytest.approx(results["test_f1"])
    lines = (out / "test_predictions.txt").read_text().splitlines()
    assert lines[0].startswith("IMGID:") and len(lines[1].split("\t")) == 3
    model = AutoModelForTokenClassification.from_pretrained(out)
    processor = MGCMTProcessor.from_pretrained(out)
    batch = processor(["Anna Berg arrives in Oslo today"], image_features=[None], objects=["A person."])
    assert model.eval()(**batch).predictions.shape == (1, 6)


def test_detector_objects_are_extracted_once_and_cached(tmp_path):
    from PIL import Image

    from mgcmt.smoke import write_smoke_assets

    assets = write_smoke_assets(tmp_path / "assets")
    data, images = tmp_path / "data", tmp_path / "images"
    data.mkdir()
    images.mkdir()
    for number, name in enumerate(("train.txt", "dev.txt", "test.txt")):
        (data / name).write_text("".join(f"IMGID:{name[:2]}{i}\nAnna\tB-PER\nBerg\tI-PER\nin\tO\nOslo\tB-LOC\n\n"
                                         for i in range(2)))
        for i in range(2):
            Image.new("RGB", (64 + 8 * i, 48), (40 * number, 90, 200)).save(images / f"{name[:2]}{i}.jpg")
    out = tmp_path / "detector"
    args = ["--data_dir", str(data), "--image_dir", str(images), "--text_encoder", assets["text_encoder"],
            "--use_semantic_augmentation", "false", "--use_text_image", "false", "--object_source", "detector",
            "--detector", "fasterrcnn_mobilenet_v3_large_320_fpn", "--max_objects", "3", "--use_cpu", "true",
            "--max_steps", "1", "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
            "--output_dir", str(out)]
    run_mner.main(args)
    folders = list((out / "features").glob("detector-*"))
    assert len(folders) == 1 and (folders[0] / "identity.json").is_file()
    ids = {path.name: load_file(path)["features"] for path in folders[0].glob("*.safetensors")}
    assert len(ids) == 6  # every image once
    assert all(t.shape == (3,) and 0 <= int(t.min()) and int(t.max()) <= 80 for t in ids.values())
    stamps = {path: path.stat().st_mtime_ns for path in folders[0].glob("*.safetensors")}
    run_mner.main(args[:-1] + [str(tmp_path / "again"), "--feature_cache_dir", str(out / "features")])
    assert {path: path.stat().st_mtime_ns for path in folders[0].glob("*.safetensors")} == stamps  # read, not rerun
    processor = MGCMTProcessor.from_pretrained(out)
    assert processor.object_source == "detector" and processor.detector == "fasterrcnn_mobilenet_v3_large_320_fpn"


class Crash(RuntimeError):
    pass


class CrashAfterSave(TrainerCallback):
    """Simulates a kill right after the checkpoint of `step` is written."""

    def __init__(self, step):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Crash(f"killed after the checkpoint of step {state.global_step}")


def log_losses(output_dir):
    state = json.loads((Path(output_dir) / "checkpoint-8" / "trainer_state.json").read_text())
    return [(entry["step"], entry["loss"]) for entry in state["log_history"] if "loss" in entry]


@pytest.mark.parametrize("sampling", ["random", "group_by_length"])
def test_resume_after_a_kill_matches_an_uninterrupted_run(tmp_path, sampling):
    args = QUICK + ["--max_steps", "8", "--per_device_train_batch_size", "8", "--logging_steps", "1",
                    "--save_strategy", "steps", "--save_steps", "2", "--eval_strategy", "steps", "--eval_steps", "2",
                    "--save_total_limit", "10", "--seed", "3", "--train_sampling_strategy", sampling]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    expected = run_mner.main(args + ["--output_dir", str(straight)])
    with pytest.raises(Crash):
        run_mner.main(args + ["--output_dir", str(resumed)], callbacks=[CrashAfterSave(4)])
    assert sorted(p.name for p in resumed.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    # the same command again resumes from the last checkpoint in the output dir
    again = run_mner.main(args + ["--output_dir", str(resumed)])
    straight_losses, resumed_losses = log_losses(straight), log_losses(resumed)
    assert [step for step, _ in resumed_losses] == list(range(1, 9))  # no lost or repeated step
    assert [step for step, _ in straight_losses] == list(range(1, 9))
    assert [loss for _, loss in resumed_losses] == pytest.approx([loss for _, loss in straight_losses], rel=1e-6)
    a, b = load_file(straight / "checkpoint-8" / "model.safetensors"), load_file(resumed / "checkpoint-8" / "model.safetensors")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-6, atol=1e-7)
    assert again["test_f1"] == pytest.approx(expected["test_f1"])


def test_group_by_length_batches_tweets_of_about_the_same_length(tmp_path, monkeypatch):
    """`--train_sampling_strategy group_by_length` reads the sub-token counts from a column the script adds: every
    tweet is still seen once per epoch, and the batches pad to fewer positions than random ones."""
    seen = {}

    def recording(collate):
        def call(self, rows):
            seen.setdefault(self.mode, []).append([(row["id"], row.get("length")) for row in rows])
            return collate(self, rows)
        return call

    monkeypatch.setattr(run_mner.MNERCollator, "__call__", recording(run_mner.MNERCollator.__call__))
    padded = {}
    for sampling in ("random", "group_by_length"):
        run_mner.MNERCollator.mode = sampling
        out = tmp_path / sampling
        run_mner.main(QUICK + ["--output_dir", str(out), "--num_train_epochs", "1", "--eval_strategy", "no",
                               "--load_best_model_at_end", "false", "--per_device_train_batch_size", "8",
                               "--train_sampling_strategy", sampling])
        train_batches = seen[sampling][:12]  # 96 training tweets; the dev and test batches come after
        assert all(len(batch) == 8 for batch in train_batches)
        assert sorted(i for batch in train_batches for i, _ in batch) == sorted(set(i for batch in train_batches
                                                                                    for i, _ in batch))
        padded[sampling] = train_batches
    del run_mner.MNERCollator.mode
    processor = MGCMTProcessor.from_pretrained(tmp_path / "group_by_length")
    dataset = run_mner.load_mner_dataset(tmp_path / "group_by_length" / "smoke_assets" / "data")
    counts = dict(zip(dataset["train"]["id"], processor.sub_token_counts(dataset["train"]["tokens"])))
    grouped = padded["group_by_length"]
    assert all(length == counts[i] for batch in grouped for i, length in batch)  # the column holds the counts

    def positions(batches):  # what the text encoder runs over: each batch padded to its longest tweet
        return sum(len(batch) * max(counts[i] for i, _ in batch) for batch in batches)

    assert positions(grouped) < positions(padded["random"])
    # dev and test keep the file's order (transformers would shuffle them into length groups too)
    written = (tmp_path / "group_by_length" / "test_predictions.txt").read_text().split("\n\n")[:-1]
    assert [tweet.split("\n")[0] for tweet in written] == [f"IMGID:{i}" for i in dataset["test"]["image_id"]]
    gold = [[line.split("\t")[1] for line in tweet.split("\n")[1:]] for tweet in written]
    pred = [[line.split("\t")[2] for line in tweet.split("\n")[1:]] for tweet in written]
    results = json.loads((tmp_path / "group_by_length" / "all_results.json").read_text())
    assert table2_row(entity_scores(gold, pred))["f1"] == pytest.approx(results["test_f1"])
    spread = [max(counts[i] for i, _ in batch) - min(counts[i] for i, _ in batch) for batch in grouped]
    assert max(spread) <= max(counts.values()) - min(counts.values())
    assert sum(spread) < sum(max(counts[i] for i, _ in b) - min(counts[i] for i, _ in b) for b in padded["random"])


def test_a_length_column_already_in_the_data_is_refused(tmp_path):
    _, _, args = run_mner.parse_arguments(["--smoke", "--output_dir", str(tmp_path), "--train_sampling_strategy",
                                           "group_by_length", "--length_column_name", "tokens"])
    dataset = {"train": type("Rows", (), {"column_names": ["tokens", "ner_tags"]})()}
    with pytest.raises(ValueError, match="already has a column 'tokens'"):
        run_mner.add_length_column([1], dataset, args)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def first_loss(output_dir):
    state = json.loads((Path(output_dir) / "trainer_state.json").read_text())
    return next(entry["loss"] for entry in state["log_history"] if "loss" in entry)


def test_loss_per_example_is_the_same_with_gradient_accumulation_and_two_processes(tmp_path):
    # 8 training tweets, one optimiser step of a global batch of 8: every run averages the same 8 per-tweet
    # losses, in whatever order or split; a loss scaled by the process count or the accumulation would differ
    common = QUICK + NO_DROPOUT + ["--max_train_samples", "8", "--max_steps", "1", "--logging_steps", "1", "--eval_strategy", "no",
                                   "--save_strategy", "no", "--load_best_model_at_end", "false", "--seed", "5"]
    run_mner.main(common + ["--per_device_train_batch_size", "8", "--output_dir", str(tmp_path / "one")])
    run_mner.main(common + ["--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "2",
                            "--output_dir", str(tmp_path / "accumulated")])
    one, accumulated = first_loss(tmp_path / "one"), first_loss(tmp_path / "accumulated")
    assert accumulated == pytest.approx(one, rel=1e-4)

    torchrun = [sys.executable, "-m", "torch.distributed.run"]  # the torchrun of this interpreter, in any venv
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    # the smoke assets of the first run are reused, so both processes see the same data and encoder
    shutil.copytree(tmp_path / "one" / "smoke_assets", tmp_path / "two" / "smoke_assets")
    completed = subprocess.run(
        [*torchrun, "--nproc_per_node", "2", "--master_port", str(free_port()), str(ROOT / "examples" / "run_mner.py"), *common,
         "--per_device_train_batch_size", "4", "--output_dir", str(tmp_path / "two")],
        capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "2 process(es) on cpu" in completed.stdout and "global train batch 8" in completed.stdout
    assert first_loss(tmp_path / "two") == pytest.approx(one, rel=1e-4)
    assert json.loads((tmp_path / "two" / "all_results.json").read_text())["test_f1"] >= 0


class PoisonWeights(TrainerCallback):
    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step == 2:
            with torch.no_grad():
                model.classifier.weight.fill_(float("nan"))


def test_nan_loss_stops_naming_the_step(tmp_path):
    with pytest.raises(FloatingPointError, match="at step 3"):
        run_mner.main(QUICK + ["--max_steps", "5", "--output_dir", str(tmp_path / "nan"), "--eval_strategy", "no",
                               "--save_strategy", "no", "--load_best_model_at_end", "false"],
                      callbacks=[PoisonWeights()])


def test_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run_mner.main(["--data_dir", str(tmp_path / "nowhere"), "--output_dir", str(tmp_path / "x")])
    with pytest.raises(ValueError, match="--dataset_name must be"):
        run_mner.main(["--dataset_name", "twitter2019", "--output_dir", str(tmp_path / "x")])

    from transformers import AutoTokenizer

    from mgcmt import MGCMTForTokenClassification
    from mgcmt.smoke import write_smoke_assets

    assets = write_smoke_assets(tmp_path / "assets")
    other_labels = tmp_path / "other-labels"
    model = MGCMTForTokenClassification.from_text_pretrained(
        assets["text_encoder"], id2label={0: "O", 1: "B-X", 2: "I-X"}, use_semantic_augmentation=False,
        use_text_image=False, use_text_object=False)
    model.save_pretrained(other_labels)
    AutoTokenizer.from_pretrained(assets["text_encoder"]).save_pretrained(other_labels)
    plain = ["--use_semantic_augmentation", "false", "--use_text_image", "false", "--use_text_object", "false",
             "--use_cpu", "true"]
    with pytest.raises(ValueError, match="do not match the dataset's"):
        run_mner.main(["--data_dir", assets["data_dir"], "--model_name_or_path", str(other_labels), "--output_dir",
                       str(tmp_path / "y"), "--do_train", "false", *plain])

    data = tmp_path / "empty-dev"
    data.mkdir()
    (data / "train.txt").write_text("IMGID:1\nAnna\tB-PER\n")
    (data / "test.txt").write_text("IMGID:2\nAnna\tB-PER\n")
    (data / "dev.txt").write_text("\n")
    with pytest.raises(ValueError, match="dev.txt: no tweets"):
        run_mner.main(["--data_dir", str(data), "--output_dir", str(tmp_path / "z"), "--text_encoder",
                       assets["text_encoder"], *plain])


def test_collator_errors_name_the_dataset_tweets():
    from .helpers import tiny_tokenizer

    collate = run_mner.MNERCollator(MGCMTProcessor(tiny_tokenizer()), features_dir=None)
    rows = [{"id": "7", "image_id": "100", "tokens": ["Anna"], "ner_tags": [1]},
            {"id": "8", "image_id": "101", "tokens": ["Anna", ""], "ner_tags": [1, 0]}]
    with pytest.raises(ValueError, match=r"Tweet 1 has an empty word at position 1\. .*1: id 8 \(IMGID 101\)"):
        collate(rows)
    assert collate(rows[:1])["labels"].tolist() == [[1]]


def test_caption_control_gives_every_image_another_images_caption(tmp_path):
    captions = {f"{i}.jpg": f"a photo of {i} dogs" for i in range(50)}
    source = tmp_path / "captions.json"
    source.write_text(json.dumps(captions))
    first = json.loads(Path(run_mner.deranged_captions(str(source), 3, tmp_path / "a")).read_text())
    again = json.loads(Path(run_mner.deranged_captions(str(source), 3, tmp_path / "b")).read_text())
    other = json.loads(Path(run_mner.deranged_captions(str(source), 4, tmp_path / "c")).read_text())
    assert first == again != other  # fixed by the seed
    assert sorted(first) == sorted(captions)  # every image keeps a caption ...
    assert sorted(first.values()) == sorted(captions.values())  # ... each caption is used once ...
    assert all(first[image] != captions[image] for image in captions)  # ... and none stays with its image

    source.write_text(json.dumps({"1.jpg": "a dog"}))
    with pytest.raises(ValueError, match="at least two captions"):
        run_mner.deranged_captions(str(source), 0, tmp_path / "d")
    with pytest.raises(ValueError, match="control for TextObj with --object_source captions"):
        run_mner.main(QUICK + ["--output_dir", str(tmp_path / "e"), "--object_source", "detector",
                               "--shuffle_captions_seed", "1"])


def test_defaults_are_the_papers_and_release_recipe(tmp_path):
    _, _, args = run_mner.parse_arguments(["--dataset_name", "twitter2017", "--output_dir", str(tmp_path)])
    assert (args.learning_rate, args.per_device_train_batch_size, args.per_device_eval_batch_size) == (3e-5, 32, 16)
    assert args.num_train_epochs == 75 and args.lr_scheduler_type == "linear"
    assert args.warmup_steps == 0.1 and args.get_warmup_steps(1000) == 100  # 10 % of the steps
    assert args.weight_decay == 0.01 and args.early_stopping_patience == 5
    assert args.eval_strategy == "epoch" and args.load_best_model_at_end and args.metric_for_best_model == "f1"
    model_args, _, args = run_mner.parse_arguments(["--dataset_name", "twitter2017", "--output_dir", str(tmp_path),
                                                    "--num_train_epochs", "30", "--warmup_steps", "0",
                                                    "--text_path_init", "random"])
    assert args.num_train_epochs == 30 and args.warmup_steps == 0 and model_args.text_path_init == "random"
    _, _, smoke = run_mner.parse_arguments(["--smoke", "--output_dir", str(tmp_path)])
    assert (smoke.learning_rate, smoke.num_train_epochs, smoke.warmup_steps, smoke.early_stopping_patience) == (2e-3, 15, 0, 0)
    assert len(run_mner.early_stopping_callbacks(args)) == 1 and run_mner.early_stopping_callbacks(smoke) == []
    _, _, no_eval = run_mner.parse_arguments(["--dataset_name", "twitter2017", "--output_dir", str(tmp_path),
                                              "--eval_strategy", "no", "--load_best_model_at_end", "false"])
    assert run_mner.early_stopping_callbacks(no_eval) == []  # nothing to stop on
    with pytest.raises(ValueError, match="--early_stopping_patience must be >= 0"):
        run_mner.early_stopping_callbacks(run_mner.parse_arguments(
            ["--smoke", "--output_dir", str(tmp_path), "--early_stopping_patience", "-1"])[2])


def test_training_stops_when_dev_f1_stops_improving(tmp_path):
    out = tmp_path / "early"
    # a threshold no gain reaches: every evaluation after the first counts as no improvement
    results = run_mner.main(QUICK + ["--output_dir", str(out), "--num_train_epochs", "6", "--early_stopping_patience", "2",
                                     "--early_stopping_threshold", "1000"])
    state = json.loads((out / "trainer_state.json").read_text())
    evaluations = [entry for entry in state["log_history"] if "eval_f1" in entry]
    assert [entry["epoch"] for entry in evaluations] == [1.0, 2.0, 3.0]  # first + patience, not 6 epochs
    assert results["epoch"] == pytest.approx(3.0) and results["best_checkpoint"] is not None


class CrashAfterEpoch(TrainerCallback):
    """Simulates a kill right after the checkpoint of the end of `epoch` is written."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_save(self, args, state, control, **kwargs):
        if state.epoch == pytest.approx(self.epoch):
            raise Crash(f"killed after the checkpoint of epoch {state.epoch}")


def test_a_resumed_run_stops_early_where_the_uninterrupted_run_does(tmp_path):
    """Early stopping's count of epochs without improvement survives a kill: killed after epoch 2 and resumed, the
    run still stops after epoch 3 (the Trainer's own default would count again from zero and train to epoch 4)."""
    out = tmp_path / "early"
    args = QUICK + ["--output_dir", str(out), "--num_train_epochs", "6", "--early_stopping_patience", "2",
                    "--early_stopping_threshold", "1000", "--save_total_limit", "10"]
    with pytest.raises(Crash):
        run_mner.main(args, callbacks=[CrashAfterEpoch(2)])
    results = run_mner.main(args)
    state = json.loads((out / "trainer_state.json").read_text())
    assert [entry["epoch"] for entry in state["log_history"] if "eval_f1" in entry] == [1.0, 2.0, 3.0]
    assert results["epoch"] == pytest.approx(3.0)
    assert state["stateful_callbacks"]["EarlyStoppingCallback"]["attributes"]["early_stopping_patience_counter"] == 2


def test_new_layers_rate_never_reaches_a_pretrained_part(tmp_path):
    pytest.importorskip("timm")
    from transformers import TrainingArguments

    from .helpers import MGCMTModelTester

    config = MGCMTModelTester().get_config(image_backbone="resnet10t", image_feature_size=512, image_grid_length=49,
                                           freeze_image_backbone=False)
    from mgcmt import MGCMTForTokenClassification

    model = MGCMTForTokenClassification(config)
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=3e-5, weight_decay=0.01, use_cpu=True,
                             report_to="none")
    trainer = run_mner.MGCMTTrainer(model=model, args=args, new_layers_learning_rate=1e-3)
    optimizer = trainer.create_optimizer()
    rate = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    decay = {id(p): group["weight_decay"] for group in optimizer.param_groups for p in group["params"]}
    named = dict(model.named_parameters())
    assert len(rate) == sum(p.requires_grad for p in named.values())  # every trainable parameter, once
    backbone = [n for n in named if n.startswith("mgcmt.image_backbone.")]
    encoder = [n for n in named if n.startswith("mgcmt.text_encoder.")]
    assert backbone and encoder
    assert {rate[id(named[n])] for n in backbone + encoder} == {3e-5}
    new = [n for n in named if n not in backbone + encoder]
    assert {rate[id(named[n])] for n in new} == {1e-3}
    assert decay[id(named["classifier.weight"])] == 0.01 and decay[id(named["classifier.bias"])] == 0.0


def test_time_budget_stops_before_an_epoch_that_would_overrun_it():
    now = [0.0]
    budget = run_mner.TimeBudgetCallback(10, clock=lambda: now[0])  # 600 s from here
    control = TrainerControl()
    state = TrainerState()
    now[0] = 100  # 100 s of setup
    budget.on_train_begin(None, state, control)
    stopped_after = None
    for epoch, end in enumerate([220, 340, 460, 580, 700, 820], start=1):  # epochs of 120 s
        now[0], state.epoch = end, epoch
        if budget.on_epoch_end(None, state, control).should_training_stop:
            stopped_after = epoch
            break
    # after epoch 3, 460 + 120 <= 600 goes on; after epoch 4, 580 + 120 > 600 stops. Stopping only once past the
    # budget would run epoch 5 to 700 s; counting the setup in the first epoch (220 s) would stop after epoch 3.
    assert stopped_after == 4 and budget.stopped


def test_time_budget_ends_training_at_an_epoch_end_with_results(tmp_path):
    out = tmp_path / "budget"
    results = run_mner.main(QUICK + ["--output_dir", str(out), "--num_train_epochs", "6", "--max_train_minutes", "0.0001"])
    assert results["epoch"] == pytest.approx(1.0) and results["stopped_by_time_budget"] is True
    assert results["best_checkpoint"] == "checkpoint-" + str(json.loads((out / "trainer_state.json").read_text())["global_step"])
    assert "test_f1" in json.loads((out / "all_results.json").read_text())
    with pytest.raises(ValueError, match="--max_train_minutes must be > 0"):
        run_mner.stopping_callbacks(run_mner.parse_arguments(["--smoke", "--output_dir", str(tmp_path),
                                                              "--max_train_minutes", "0"])[2])


def test_bf16_on_a_cpu_without_bf16_instructions_is_warned_about(tmp_path, caplog):
    from types import SimpleNamespace

    def cpuinfo(flags: str) -> str:
        path = tmp_path / f"cpuinfo-{len(list(tmp_path.iterdir()))}"
        path.write_text(f"processor\t: 0\nflags\t\t: fpu sse2 {flags}\n\nprocessor\t: 1\nflags\t\t: fpu sse2 {flags}\n")
        return str(path)

    cpu_bf16 = SimpleNamespace(bf16=True, device=torch.device("cpu"))
    avx2_only = cpuinfo("avx avx2 fma")
    with caplog.at_level("WARNING", logger="run_mner"):
        assert run_mner.warn_on_slow_cpu_bf16(cpu_bf16, avx2_only)
    assert "avx512_bf16 or amx_bf16" in caplog.text and avx2_only in caplog.text
    assert not run_mner.warn_on_slow_cpu_bf16(cpu_bf16, cpuinfo("avx avx2 avx512f avx512_bf16"))
    assert not run_mner.warn_on_slow_cpu_bf16(cpu_bf16, cpuinfo("avx avx2 amx_tile amx_bf16"))
    assert not run_mner.warn_on_slow_cpu_bf16(SimpleNamespace(bf16=False, device=torch.device("cpu")), avx2_only)
    assert not run_mner.warn_on_slow_cpu_bf16(SimpleNamespace(bf16=True, device=torch.device("cuda")), avx2_only)
    assert not run_mner.warn_on_slow_cpu_bf16(cpu_bf16, str(tmp_path / "absent"))  # not Linux: nothing to say
    arm = tmp_path / "cpuinfo-arm"  # no "flags" line: nothing to judge by
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16\n")
    assert not run_mner.warn_on_slow_cpu_bf16(cpu_bf16, str(arm))
