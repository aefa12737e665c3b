"""examples/run_mner.py under faults: killed checkpoints, two runs on one folder, changed arguments, over-long tweets,
corrupt images, captions and feature folders that match nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .test_run_mner import QUICK, Crash, CrashAfterSave, run_mner

STEPS = QUICK + ["--max_steps", "8", "--per_device_train_batch_size", "8", "--logging_steps", "1",
                 "--save_strategy", "steps", "--save_steps", "2", "--eval_strategy", "steps", "--eval_steps", "2",
                 "--save_total_limit", "10", "--seed", "3"]
NO_EVAL = ["--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false"]


def test_incomplete_checkpoints_are_skipped_and_the_run_resumes(tmp_path, capfd):
    out = tmp_path / "run"
    with pytest.raises(Crash):
        run_mner.main(STEPS + ["--output_dir", str(out)], callbacks=[CrashAfterSave(4)])
    good = out / "checkpoint-4"
    (out / "checkpoint-5").mkdir()  # killed before anything was written
    shutil.copytree(good, out / "checkpoint-6")
    (out / "checkpoint-6" / "trainer_state.json").unlink()  # killed before the state
    shutil.copytree(good, out / "checkpoint-7")
    weights = out / "checkpoint-7" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # killed while writing the weights
    shutil.copytree(good, out / "checkpoint-9")
    optimizer = out / "checkpoint-9" / "optimizer.pt"
    optimizer.write_bytes(optimizer.read_bytes()[:1000])  # killed while writing the optimizer state
    capfd.readouterr()
    results = run_mner.main(STEPS + ["--output_dir", str(out)])  # the same command
    log = capfd.readouterr().out
    for name, reason in (("checkpoint-9", "optimizer.pt is truncated"), ("checkpoint-7", "model.safetensors is truncated"),
                         ("checkpoint-6", "no trainer_state.json"), ("checkpoint-5", "no trainer_state.json")):
        assert f"Skipping the incomplete checkpoint {out / name} ({reason}" in log
    assert f"Resuming from {good}" in log
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 8 and [e["step"] for e in state["log_history"] if "loss" in e][:1] == [1]
    assert results["test_f1"] >= 0 and (out / "all_results.json").is_file()


def test_resuming_with_other_arguments_warns_naming_them(tmp_path, capfd):
    out = tmp_path / "run"
    with pytest.raises(Crash):
        run_mner.main(STEPS + ["--output_dir", str(out)], callbacks=[CrashAfterSave(2)])
    capfd.readouterr()
    run_mner.main(STEPS + ["--output_dir", str(out), "--learning_rate", "1e-3", "--max_train_minutes", "30"])
    log = capfd.readouterr().out
    assert "Resuming a run with other arguments than its checkpoints were trained with: --learning_rate 0.002 -> 0.001" in log
    assert "max_train_minutes" not in log.split("other arguments")[1].splitlines()[0]  # a budget changes nothing trained


def test_a_second_run_on_the_same_output_dir_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); "
         "lock.acquire(); print('locked', flush=True); time.sleep(120)", str(out / run_mner.LOCK_FILE)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.perf_counter()
        with pytest.raises(RuntimeError, match=r"Another run is using --output_dir .*run_mner\.lock"):
            run_mner.main(QUICK + ["--output_dir", str(out), "--max_steps", "1", *NO_EVAL])
        assert time.perf_counter() - started < 30 and not (out / "smoke_assets").exists()  # refused before any work
    finally:
        holder.kill()
        holder.wait()
    results = run_mner.main(QUICK + ["--output_dir", str(out), "--max_steps", "1", *NO_EVAL])  # the lock ended with it
    assert "test_f1" in results


def smoke_copy(tmp_path) -> dict:
    from mgcmt.smoke import write_smoke_assets

    return write_smoke_assets(tmp_path / "assets")


def plain_args(assets, out, *extra) -> list[str]:
    return ["--data_dir", assets["data_dir"], "--text_encoder", assets["text_encoder"], "--use_semantic_augmentation",
            "false", "--use_text_image", "false", "--use_cpu", "true", "--disable_tqdm", "true", "--max_steps", "1",
            *NO_EVAL, "--output_dir", str(out), *extra]


def test_an_over_long_test_tweet_stops_the_run_before_training(tmp_path):
    assets = smoke_copy(tmp_path)
    test = Path(assets["data_dir"]) / "test.txt"
    lines = test.read_text(encoding="utf-8").splitlines()
    long_line = len(lines) + 2
    test.write_text("\n".join(lines) + "\n\nIMGID:long1\n" + "".join(f"word{i}\tO\n" for i in range(60)), encoding="utf-8")
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=rf"(?s)over --max_length 32.*test\.txt:{long_line}: tweet IMGID:long1 \(test\)"):
        run_mner.main(plain_args(assets, out, "--use_text_object", "false", "--max_length", "32"))
    assert not list(out.glob("checkpoint-*")) and not (out / "model.safetensors").exists()


def test_captions_that_match_no_tweet_or_do_not_parse_are_named_at_start(tmp_path):
    assets = smoke_copy(tmp_path)
    unrelated = tmp_path / "unrelated.json"
    unrelated.write_text(json.dumps({"x1.jpg": "a dog", "x2.jpg": "a man"}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"No tweet of the train split .*train\.txt\) has a caption in .*unrelated\.json"):
        run_mner.main(plain_args(assets, tmp_path / "a", "--object_source", "captions", "--captions_file", str(unrelated)))
    broken = tmp_path / "broken.json"
    broken.write_text('{"s0001.jpg": "a dog",', encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.json: not valid JSON"):
        run_mner.main(plain_args(assets, tmp_path / "b", "--object_source", "captions", "--captions_file", str(broken)))


def test_a_features_folder_missing_a_splits_files_is_refused(tmp_path):
    from safetensors.torch import save_file
    import torch

    assets = smoke_copy(tmp_path)
    features = tmp_path / "features"
    features.mkdir()
    train_ids = [line[6:] for line in (Path(assets["data_dir"]) / "train.txt").read_text().splitlines()
                 if line.startswith("IMGID:")]
    for image_id in train_ids[:3]:  # train only: dev and test have none
        save_file({"features": torch.ones(4, 8)}, features / f"{image_id}.safetensors")
    args = plain_args(assets, tmp_path / "run", "--use_text_object", "false", "--image_features_dir", str(features))
    args[args.index("--use_text_image") + 1] = "true"
    with pytest.raises(ValueError, match=r"No tweet of the validation split .*dev\.txt\) has grid features"):
        run_mner.main(args)


def test_a_corrupt_image_is_a_missing_one_with_no_image(tmp_path, capfd):
    assets = smoke_copy(tmp_path)
    damaged = sorted(Path(assets["image_dir"]).glob("*.jpg"))[0]
    damaged.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    args = plain_args(assets, tmp_path / "run", "--use_text_object", "false", "--image_dir", assets["image_dir"],
                      "--grid_backbone", "resnet10t", "--missing_image", "no_image",
                      "--feature_cache_dir", str(tmp_path / "cache"))
    args[args.index("--use_text_image") + 1] = "true"
    capfd.readouterr()
    results = run_mner.main(args)
    log = capfd.readouterr().out
    assert f"1 unreadable image(s) read as tweets without image (--missing_image no_image): {damaged.stem}" in log
    assert "test_f1" in results
    total = len(list(Path(assets["image_dir"]).glob("*.jpg")))
    run_mner.main(args[:args.index("--output_dir") + 1] + [str(tmp_path / "again")] + args[args.index("--output_dir") + 2:])  # the finished features were kept: only the bad one is retried
    assert f"computing 1 of {total} images ({total - 1} cached)" in capfd.readouterr().out
