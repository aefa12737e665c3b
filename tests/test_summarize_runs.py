"""examples/summarize_runs.py: mean ± std over seed folders, unfinished runs listed."""

import importlib.util
import json
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "summarize_runs", Path(__file__).resolve().parents[1] / "examples" / "summarize_runs.py")
summarize_runs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(summarize_runs)


def write_run(folder: Path, f1: float, runtime: float = 100.0):
    folder.mkdir(parents=True)
    results = {key: f1 for key in summarize_runs.TABLE2_KEYS}
    results.update(train_runtime=runtime, epoch=4.0)
    (folder / "all_results.json").write_text(json.dumps(results))


def test_rows_are_grouped_by_name_without_seed(tmp_path, capsys):
    write_run(tmp_path / "t17-minilm-full-s1", 80.0)
    write_run(tmp_path / "t17-minilm-full-s2", 82.0)
    write_run(tmp_path / "t17-minilm-esd-s1", 77.5)
    (tmp_path / "t17-minilm-esd-s2").mkdir()  # still training
    assert summarize_runs.main([str(p) for p in sorted(tmp_path.iterdir())]) == 0
    out = capsys.readouterr().out
    assert "| t17-minilm-full | 2 | " + " | ".join(["81.00 ± 1.41"] * 8) + " |" in out
    assert "| t17-minilm-esd | 1 | " + " | ".join(["77.50"] * 8) + " |" in out
    assert "not finished (no all_results.json): t17-minilm-esd-s2" in out


def test_no_finished_run_is_an_error(tmp_path, capsys):
    (tmp_path / "x-s1").mkdir()
    assert summarize_runs.main([str(tmp_path / "x-s1")]) == 1
    assert "No finished run" in capsys.readouterr().err
