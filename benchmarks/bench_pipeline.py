"""Tweets per second through `pipeline("multimodal-ner")`: MGCMT against its text-only baseline, in one process.

Both models are built around the same text encoder (new layers random: the speed does not depend on training)
and saved with their processors to a temporary folder; the pipeline loads them as a user would. MGCMT here is
the model this package can run without images: semantic augmentation (with `--table`), TextObj with caption
objects, ESD and the uni-text transformer; the baseline has every addition off (encoder + Linear + CRF).
Tweets are the TWITTER-2017 test tweets (`--data`, with their captions) or, without data, generated ones.
Each batch size runs a warm-up pass first; the timed pass goes over `--tweets` tweets.

    python benchmarks/bench_pipeline.py --text_encoder ENCODER_DIR [--table TABLE_DIR] [--data DATA_DIR]
        [--device cuda] [--batch_sizes 1 64] [--tweets 512]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, pipeline

import mgcmt  # noqa: F401  (registers the pipeline)
from mgcmt import MGCMTForTokenClassification, MGCMTProcessor
from mgcmt.augmentation import SemanticAugmentationTable
from mgcmt.data import read_conll_file

BASELINE = dict(use_semantic_augmentation=False, use_text_image=False, use_text_object=False,
                use_entity_span_detection=False, use_text_encoder=False)


def load_tweets(data_dir: str | None, count: int, seed: int) -> list[dict]:
    if data_dir is None:
        rng = random.Random(seed)
        words = "Anna Berg arrives in Oslo today with Globex and the new office in Lima is open".split()
        return [{"text": " ".join(rng.choice(words) for _ in range(rng.randint(8, 30))), "objects": "a person"}
                for _ in range(count)]
    data = Path(data_dir)
    captions = json.loads((data / "image_captions_catr.json").read_text(encoding="utf-8"))
    tweets = [{"words": tweet.tokens, "objects": captions.get(f"{tweet.image_id}.jpg", "")}
              for tweet in read_conll_file(data / "test.txt")]
    return (tweets * (count // len(tweets) + 1))[:count]


def build(encoder: str, table: SemanticAugmentationTable | None, directory: Path, switches: dict) -> None:
    objects = switches.get("use_text_object", True)
    semaug = switches.get("use_semantic_augmentation", True) and table is not None
    model = MGCMTForTokenClassification.from_text_pretrained(
        encoder, **{**switches, "use_text_image": False, "use_semantic_augmentation": semaug},
        augmentation_size=table.dim if semaug else 200, max_objects=6)
    processor = MGCMTProcessor(AutoTokenizer.from_pretrained(encoder), table if semaug else None,
                               object_source="captions" if objects else None, max_objects=6)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)


def tweets_per_second(ner, tweets: list[dict], batch_size: int, keep_objects: bool) -> float:
    inputs = [dict(t, image=None) if keep_objects else {k: v for k, v in t.items() if k != "objects"} for t in tweets]
    ner(inputs[: max(batch_size, 8)], batch_size=batch_size)  # warm-up
    if ner.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    ner(inputs, batch_size=batch_size)
    if ner.device.type == "cuda":
        torch.cuda.synchronize()
    return len(inputs) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text_encoder", required=True, help="a local encoder folder (or a hub id)")
    parser.add_argument("--table", help="a saved augmentation table folder (SemAug on)")
    parser.add_argument("--data", help="a dataset folder with test.txt and image_captions_catr.json")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--tweets", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    table = SemanticAugmentationTable.from_pretrained(args.table) if args.table else None
    tweets = load_tweets(args.data, args.tweets, args.seed)
    device = torch.device(args.device)
    print(f"pipeline on {device}, {len(tweets)} tweets ({'TWITTER-2017 test' if args.data else 'generated'}), "
          f"encoder {args.text_encoder}, SemAug {'on' if table else 'off'}")
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, switches in (("baseline", BASELINE), ("mgcmt", {})):
            directory = Path(tmp) / name
            build(args.text_encoder, table, directory, switches)
            ner = pipeline("multimodal-ner", model=str(directory), device=device)
            for batch_size in args.batch_sizes:
                rates[name, batch_size] = tweets_per_second(ner, tweets, batch_size, keep_objects=name == "mgcmt")
                print(f"{name:9} batch {batch_size:3}: {rates[name, batch_size]:9.1f} tweets/s")
            del ner
    for batch_size in args.batch_sizes:
        print(f"ratio MGCMT / baseline at batch {batch_size}: {rates['mgcmt', batch_size] / rates['baseline', batch_size]:.2f}x "
              f"tweets/s")


if __name__ == "__main__":
    main()
