"""Mean ± std tables over seeds from run_mner.py output folders (the tables of docs/RESULTS.md).

Folders named `<row>-s<seed>` (for example `runs/t17-minilm-full-s1`) are grouped by `<row>`; each must
hold the `all_results.json` that run_mner.py writes at the end. Folders still training are listed as such.

    python examples/summarize_runs.py runs/t17-minilm-*-s* runs/t15-minilm-*-s*
"""

import argparse
import json
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


def collect(folders: list[Path]) -> tuple[dict[str, dict[int, dict]], list[str]]:
    rows: dict[str, dict[int, dict]] = {}
    unfinished = []
    for folder in folders:
        match = SEED_FOLDER.match(folder.name)
        if not folder.is_dir() or match is None:
            continue
        results = folder / "all_results.json"
        if not results.is_file():
            unfinished.append(folder.name)
            continue
        row = match["row"] + (match["suffix"] or "")
        rows.setdefault(row, {})[int(match["seed"])] = json.loads(results.read_text())
    return rows, unfinished


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="run_mner.py output folders named <row>-s<seed>")
    args = parser.parse_args(argv)
    rows, unfinished = collect(args.folders)
    if not rows:
        print("No finished run (all_results.json) among the folders given.", file=sys.stderr)
        return 1
    print("| row | seeds | PER | LOC | ORG | MISC | P | R | F1 | dev F1 | epochs trained |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row, seeds in sorted(rows.items()):
        cells = [mean_std([r[key] for r in seeds.values()]) for key in TABLE2_KEYS]
        epochs = [r["epoch"] for r in seeds.values() if "epoch" in r]
        cells.append(", ".join(f"{e:g}" for e in epochs) or "—")
        print(f"| {row} | {len(seeds)} | " + " | ".join(cells) + " |")
    print("\nper seed: test F1 / dev F1 / train time (s) / epochs")
    for row, seeds in sorted(rows.items()):
        runs = ", ".join(f"s{seed} {r['test_f1']:.2f} / {r['validation_f1']:.2f} / {r['train_runtime']:.0f} / "
                         f"{r.get('epoch', float('nan')):g}" for seed, r in sorted(seeds.items()))
        print(f"  {row}: {runs}")
    if unfinished:
        print(f"\nnot finished (no all_results.json): {', '.join(sorted(unfinished))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
