"""examples/summarize_runs.py: mean ± std over seed folders, unfinished runs listed."""

import importlib.util
import json
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "summarize_runs", Path(__file__).resolve().parents[1] / "examples" / "summarize_runs.py")
summarize_runs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(summarize_runs)


def write_run(folder: Path, f1: float, runtime: float = 100.0, best_step: int | None = None):
    folder.mkdir(parents=True)
    results = {key: f1 for key in summarize_runs.TABLE2_KEYS}
    results.update(train_runtime=runtime, epoch=4.0)
    if best_step is not None:  # as run_mner.py writes it: 10 steps an epoch, dev F1 after each
        results["best_checkpoint"] = f"checkpoint-{best_step}"
        history = [{"loss": 1.0, "step": 10 * e - 5, "epoch": e - 0.5} for e in range(1, 5)]
        history += [{"eval_f1": f1 - 4 + e, "step": 10 * e, "epoch": float(e)} for e in range(1, 5)]
        (folder / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    (folder / "all_results.json").write_text(json.dumps(results))


def test_rows_are_grouped_by_name_without_seed(tmp_path, capsys):
    write_run(tmp_path / "t17-minilm-full-s1", 80.0)
    write_run(tmp_path / "t17-minilm-full-s2", 82.0)
    write_run(tmp_path / "t17-minilm-esd-s1", 77.5)
    (tmp_path / "t17-minilm-esd-s2").mkdir()  # still training
    assert summarize_runs.main([str(p) for p in sorted(tmp_path.iterdir())]) == 0
    out = capsys.readouterr().out
    assert "| t17-minilm-full | 2 | " + " | ".join(["81.00 ± 1.41"] * 8) + " | 4, 4 |" in out
    assert "| t17-minilm-esd | 1 | " + " | ".join(["77.50"] * 8) + " | 4 |" in out
    assert "not finished (no all_results.json): t17-minilm-esd-s2" in out


def test_folders_that_are_no_run_are_named_not_dropped_silently(tmp_path, capsys):
    write_run(tmp_path / "t17-minilm-full-s1", 80.0)
    write_run(tmp_path / "t17-minilm-full-s1-bf16", 80.5)  # a tag after the suffixes: no row can be told
    (tmp_path / "notes.txt").write_text("")
    assert summarize_runs.main([str(p) for p in sorted(tmp_path.iterdir())]) == 0
    captured = capsys.readouterr()
    assert "| t17-minilm-full | 1 | " in captured.out and "80.50" not in captured.out
    assert f"skipped {tmp_path / 't17-minilm-full-s1-bf16'} (name not <row>-s<seed>" in captured.err
    assert f"skipped {tmp_path / 'notes.txt'} (not a folder)" in captured.err


def test_no_finished_run_is_an_error(tmp_path, capsys):
    (tmp_path / "x-s1").mkdir()
    assert summarize_runs.main([str(tmp_path / "x-s1")]) == 1
    assert "No finished run" in capsys.readouterr().err


def test_best_epoch_and_differences_with_their_standard_error(tmp_path, capsys):
    for seed, f1 in enumerate([80.0, 81.0, 82.0], 1):
        write_run(tmp_path / f"t17-minilm-full-s{seed}-e10", f1, best_step=30)
    for seed, f1 in enumerate([78.0, 78.5, 79.0], 1):
        write_run(tmp_path / f"t17-minilm-baseline-s{seed}-e10", f1, best_step=20)
    write_run(tmp_path / "t17-minilm-textonly+-s1-e10", 81.5)
    folders = [str(p) for p in sorted(tmp_path.iterdir())]
    assert summarize_runs.main(folders + ["--against", "t17-minilm-baseline-e10"]) == 0
    out = capsys.readouterr().out
    assert "| 4 (3), 4 (3), 4 (3) |" in out and "| 4 (2), 4 (2), 4 (2) |" in out  # trained (best) per seed
    # full - baseline: 81.0 - 78.5 = 2.5; standard error sqrt(1/3 + 0.25/3) = 0.65: outside twice it
    assert "| t17-minilm-full-e10 | 3 vs 3 | +2.50 ± 0.65 * |" in out
    assert "| t17-minilm-textonly+-e10 | 1 vs 3 | +3.00 |" in out  # one seed: no spread, no verdict
    assert "    s3 dev F1 by epoch: 79.00, 80.00, 81.00, 82.00\n" in out  # the curve, from trainer_state.json
    assert out.rstrip().endswith("t17-minilm-textonly+-e10: s1 81.50 / 81.50 / 100 / 4")  # no state file, no curve
    assert summarize_runs.main(folders + ["--against", "t17-minilm-nothing"]) == 1
    assert "is not a finished row" in capsys.readouterr().err


def test_an_evaluation_only_run_is_shown_as_such(tmp_path, capsys):
    """A `--do_train false` run (a checkpoint evaluated, nothing trained) has no train_runtime: it is listed as
    "eval only", with its F1 in the means, instead of stopping the summary with a KeyError."""
    write_run(tmp_path / "t15-mpnet-baseline-s1", 75.0)
    evaluated = tmp_path / "t15-mpnet-baseline-s2"
    write_run(evaluated, 76.0)
    results = json.loads((evaluated / "all_results.json").read_text())
    del results["train_runtime"]
    results["epoch"] = 0.0  # what the Trainer reports when it trained nothing
    (evaluated / "all_results.json").write_text(json.dumps(results))
    assert summarize_runs.main([str(p) for p in sorted(tmp_path.iterdir())]) == 0
    out = capsys.readouterr().out
    assert "| t15-mpnet-baseline | 2 | " + " | ".join(["75.50 ± 0.71"] * 8) + " | 4, eval only |" in out
    assert "t15-mpnet-baseline: s1 75.00 / 75.00 / 100 / 4, s2 76.00 / 76.00 / eval only" in out
