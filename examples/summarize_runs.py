"""Mean ± std tables over seeds from run_mner.py output folders (the tables of docs/RESULTS.md).

Folders named `<row>-s<seed>` (for example `runs/t17-minilm-full-s1`) are grouped by `<row>`; each must
hold the `all_results.json` that run_mner.py writes at the end. Folders still training are listed as such.
The "epochs" column gives, per seed, the epochs trained and (in brackets) the epoch of the dev-selected
checkpoint, read from the folder's `trainer_state.json`; the per-seed list under the table gives, from the same file,
the dev F1 of every epoch (the curves docs/RESULTS.md quotes).

`--against ROW` adds the difference of every other row to ROW (mean over seeds minus mean over seeds), for test F1,
dev F1 and each type's test F1, with the standard error of that difference, sqrt(s_a^2/n_a + s_b^2/n_b) from the two
rows' seed standard deviations. A difference larger than twice its standard error is marked as outside the seeds'
noise; with 2-3 seeds per row this is a rough guide, not a test.

    python examples/summarize_runs.py runs/t17-minilm-*-s* runs/t15-minilm-*-s*
    python examples/summarize_runs.py runs/t17-minilm-*-s*-e10 --against t17-minilm-baseline-e10
"""

import argparse
import json
import math
import re
import statistics
import sys
from pathlib import Path

TABLE2_KEYS = ["test_PER_f1", "test_LOC_f1", "test_ORG_f1", "test_MISC_f1",
               "test_precision", "test_recall", "test_f1", "validation_f1"]
# the suffixes of examples/real_runs.sh: epoch ceiling, rate of the new layers, random start of Eq. 4
SEED_FOLDER = re.compile(r"^(?P<row>.+)-s(?P<seed>\d+)(?P<suffix>(?:-e\d+)?(?:-lr[0-9.]+(?:e-?\d+)?)?(?:-rand)?)$")


def mean_std(values: list[float]) -> str:
    """Mean ± sample standard deviation; one value alone has no spread to show."""
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def dev_evaluations(folder: Path) -> list[dict]:
    """The dev evaluations logged in the folder's trainer_state.json (none where the file is absent)."""
    state = folder / "trainer_state.json"
    if not state.is_file():
        return []
    return [entry for entry in json.loads(state.read_text())["log_history"] if "eval_f1" in entry]


def best_epoch(evaluations: list[dict], results: dict) -> float | None:
    """The epoch of the dev-selected checkpoint (`best_checkpoint` in all_results.json)."""
    match = re.fullmatch(r"checkpoint-(\d+)", str(results.get("best_checkpoint", "")))
    if match is None:
        return None
    epochs = [entry["epoch"] for entry in evaluations if entry.get("step") == int(match[1])]
    return epochs[0] if epochs else None


def dev_curve(evaluations: list[dict]) -> list[float]:
    """Dev F1 after each epoch, in epoch order."""
    by_epoch = {entry["epoch"]: entry["eval_f1"] for entry in evaluations}
    return [f1 for _, f1 in sorted(by_epoch.items())]


def evaluation_only(results: dict) -> bool:
    """A run with `--do_train false`: it evaluated a checkpoint and trained nothing (no train_runtime)."""
    return "train_runtime" not in results


def epochs_cell(seeds: dict[int, dict]) -> str:
    cells = []
    for _, r in sorted(seeds.items()):
        if evaluation_only(r):
            cells.append("eval only")
            continue
        if "epoch" not in r:
            continue
        best = r.get("best_epoch")
        cells.append(f"{r['epoch']:g}" + (f" ({best:g})" if best is not None else ""))
    return ", ".join(cells) or "—"


COMPARED = [("test F1", "test_f1"), ("dev F1", "validation_f1"), ("PER", "test_PER_f1"), ("LOC", "test_LOC_f1"),
            ("ORG", "test_ORG_f1"), ("MISC", "test_MISC_f1")]


def difference(a: list[float], b: list[float]) -> tuple[float, float | None]:
    """Mean of `a` minus mean of `b`, and the standard error of that difference (None with a single seed)."""
    diff = statistics.mean(a) - statistics.mean(b)
    if len(a) < 2 or len(b) < 2:
        return diff, None
    return diff, math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))


def comparison(rows: dict[str, dict[int, dict]], against: str) -> list[str]:
    lines = [f"\ndifference to {against} (mean over seeds; ± standard error; * outside twice the standard error)",
             "| row | seeds | " + " | ".join(f"Δ {name}" for name, _ in COMPARED) + " |",
             "| --- | --- | " + " | ".join("---" for _ in COMPARED) + " |"]
    base = rows[against]
    for row, seeds in sorted(rows.items()):
        if row == against:
            continue
        cells = []
        for _, key in COMPARED:
            diff, error = difference([r[key] for r in seeds.values()], [r[key] for r in base.values()])
            if error is None:
                cells.append(f"{diff:+.2f}")
            else:
                cells.append(f"{diff:+.2f} ± {error:.2f}" + (" *" if abs(diff) > 2 * error else ""))
        lines.append(f"| {row} | {len(seeds)} vs {len(base)} | " + " | ".join(cells) + " |")
    return lines


def collect(folders: list[Path]) -> tuple[dict[str, dict[int, dict]], list[str], list[str]]:
    """Finished runs by row and seed; the folders still training; the paths that are no run folder, with why."""
    rows: dict[str, dict[int, dict]] = {}
    unfinished, skipped = [], []
    for folder in folders:
        match = SEED_FOLDER.match(folder.name)
        if not folder.is_dir() or match is None:
            why = "not a folder" if not folder.is_dir() else "name not <row>-s<seed>[-e<N>][-lr<rate>][-rand]"
            skipped.append(f"{folder} ({why})")
            continue
        results = folder / "all_results.json"
        if not results.is_file():
            unfinished.append(folder.name)
            continue
        row = match["row"] + (match["suffix"] or "")
        result = json.loads(results.read_text())
        evaluations = dev_evaluations(folder)
        result["best_epoch"] = best_epoch(evaluations, result)
        result["dev_curve"] = dev_curve(evaluations)
        rows.setdefault(row, {})[int(match["seed"])] = result
    return rows, unfinished, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="run_mner.py output folders named <row>-s<seed>")
    parser.add_argument("--against", metavar="ROW", help="a row of the table: print every other row's difference to it")
    args = parser.parse_args(argv)
    rows, unfinished, skipped = collect(args.folders)
    for path in skipped:
        print(f"skipped {path}", file=sys.stderr)
    if not rows:
        print("No finished run (all_results.json) among the folders given.", file=sys.stderr)
        return 1
    if args.against is not None and args.against not in rows:
        print(f"--against {args.against!r} is not a finished row; rows: {', '.join(sorted(rows))}.", file=sys.stderr)
        return 1
    print("| row | seeds | PER | LOC | ORG | MISC | P | R | F1 | dev F1 | epochs trained (best) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row, seeds in sorted(rows.items()):
        cells = [mean_std([r[key] for r in seeds.values()]) for key in TABLE2_KEYS]
        cells.append(epochs_cell(seeds))
        print(f"| {row} | {len(seeds)} | " + " | ".join(cells) + " |")
    if args.against is not None:
        print("\n".join(comparison(rows, args.against)))
    print("\nper seed: test F1 / dev F1 / train time (s) / epochs")
    for row, seeds in sorted(rows.items()):
        runs = ", ".join(f"s{seed} {r['test_f1']:.2f} / {r['validation_f1']:.2f} / " + (
            "eval only" if evaluation_only(r) else f"{r['train_runtime']:.0f} / {r.get('epoch', float('nan')):g}")
            for seed, r in sorted(seeds.items()))
        print(f"  {row}: {runs}")
        for seed, r in sorted(seeds.items()):
            if r["dev_curve"]:
                print(f"    s{seed} dev F1 by epoch: " + ", ".join(f"{f1:.2f}" for f1 in r["dev_curve"]))
    if unfinished:
        print(f"\nnot finished (no all_results.json): {', '.join(sorted(unfinished))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
