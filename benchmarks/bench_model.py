"""MGCMT against its text-only baseline, side by side in one process, on the same batches.

The baseline is the same class with every MGCMT addition switched off: the same text encoder, a Linear
emission layer and the CRF (the paper's BERT-CRF row). MGCMT is the full model with cached image features
(49 x 2048 grid, 5 object ids per tweet) and augmentation vectors. Batches have realistic tweet lengths
(words per tweet drawn from TWITTER-2015's train split when ../shared/data is there, else 10-35 words; 1.6
sub-tokens per word), batch 32.

Prints per model: training step (forward + backward + AdamW step) and inference (forward + Viterbi) times,
forward FLOPs (torch's FlopCounterMode), peak memory, and the ratios MGCMT / baseline next to the FLOP ratio.
Peak memory on a GPU is `torch.cuda.max_memory_allocated` during the timed steps. On the CPU, where torch keeps
no such count, each model's training and inference steps run once more in a fresh process of their own, on
the same batches, and its peak resident set (Linux's VmHWM) is reported as growth over the process's peak
before the model was built: weights, gradients, AdamW state and activations.

    python benchmarks/bench_model.py --size base            # BERT-base sizes (768-d, 12 layers), random weights
    python benchmarks/bench_model.py --size mini --device cuda --dtype bf16
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import random
import resource
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import BertConfig

from mgcmt import MGCMTConfig, MGCMTForTokenClassification

SIZES = {
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128),  # dry runs
    "mini": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
}
BASELINE = dict(use_semantic_augmentation=False, use_text_image=False, use_text_object=False,
                use_entity_span_detection=False, use_text_encoder=False)


def tweet_lengths(count: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "twitter2015" / "train.txt"
    if path.is_file():
        from mgcmt.data import read_conll_file

        lengths = [len(tweet.tokens) for tweet in read_conll_file(path)]
    else:
        lengths = list(range(10, 36))
    return [rng.choice(lengths) for _ in range(count)]


def make_batch(words: list[int], vocab_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Sub-tokens per word 1 or 2 (about 1.6 on average), [CLS]/[SEP], padding, labels, visual inputs."""
    batch = len(words)
    pieces = [torch.randint(1, 3, (n,), generator=generator) for n in words]
    seq_len = max(int(p.sum()) + 2 for p in pieces)
    num_words = max(words)
    inputs = dict(
        input_ids=torch.zeros(batch, seq_len, dtype=torch.long),
        attention_mask=torch.zeros(batch, seq_len, dtype=torch.long),
        token_word_index=torch.zeros(batch, seq_len, dtype=torch.long),
        word_mask=torch.zeros(batch, num_words, dtype=torch.long),
        labels=torch.full((batch, num_words), -100, dtype=torch.long),
        augmentation_embeds=torch.randn(batch, num_words, 200, generator=generator),
        image_features=torch.randn(batch, 49, 2048, generator=generator).relu(),
        object_ids=torch.randint(0, 81, (batch, 5), generator=generator),
    )
    for row, (n, piece) in enumerate(zip(words, pieces)):
        index = torch.repeat_interleave(torch.arange(1, n + 1), piece)
        length = len(index) + 2
        inputs["input_ids"][row, :length] = torch.randint(5, vocab_size, (length,), generator=generator)
        inputs["attention_mask"][row, :length] = 1
        inputs["token_word_index"][row, 1 : length - 1] = index
        inputs["word_mask"][row, :n] = 1
        inputs["labels"][row, :n] = torch.randint(0, 9, (n,), generator=generator)
    return inputs


def peak_rss_mib() -> float:
    """Peak resident set of this process's own memory image so far (VmHWM: not inherited through fork/exec,
    unlike `ru_maxrss`, which starts a spawned child at its parent's size)."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, bytes on macOS


def measure(model, batches, device, dtype, steps: int) -> dict[str, float]:
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    train_times, infer_times = [], []
    for step in range(steps + 1):  # the first step warms up and is not timed
        batch = {k: v.to(device) for k, v in batches[step % len(batches)].items()}
        model.train()
        sync()
        start = time.perf_counter()
        with autocast:
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync()
        if step:
            train_times.append(time.perf_counter() - start)
        model.eval()
        sync()
        start = time.perf_counter()
        with torch.no_grad(), autocast:
            model(**{k: v for k, v in batch.items() if k != "labels"})
        sync()
        if step:
            infer_times.append(time.perf_counter() - start)
    model.eval()
    batch = {k: v.to(device) for k, v in batches[0].items() if k != "labels"}
    with torch.no_grad(), autocast, FlopCounterMode(display=False) as counter:
        model(**batch)
    result = dict(train=statistics.median(train_times), infer=statistics.median(infer_times),
                  flops=counter.get_total_flops(),
                  memory=torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
                  parameters=model.num_parameters())
    model.to("cpu")
    return result


def bert_config(args) -> BertConfig:
    return BertConfig(vocab_size=30522, **SIZES[args.size])


def build_batches(args) -> list[dict[str, torch.Tensor]]:
    vocab_size = bert_config(args).vocab_size
    generator = torch.Generator().manual_seed(args.seed)
    lengths = tweet_lengths(args.batch_size * 4, args.seed)
    return [make_batch(lengths[i : i + args.batch_size], vocab_size, generator)
            for i in range(0, len(lengths), args.batch_size)]


def build_model(args, switches: dict) -> MGCMTForTokenClassification:
    torch.manual_seed(args.seed)
    return MGCMTForTokenClassification(MGCMTConfig(text_config=bert_config(args), **switches))


def cpu_peak_growth(args, switches: dict, dtype: torch.dtype) -> float:
    """Runs in a fresh process: MiB of peak resident set added by one model's training and inference steps."""
    torch.set_num_threads(args.threads)
    batches = build_batches(args)
    before = peak_rss_mib()
    measure(build_model(args, switches), batches, torch.device("cpu"), dtype, steps=1)
    return peak_rss_mib() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="mini")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    device, dtype = torch.device(args.device), {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    args.threads = torch.get_num_threads()
    text_config = bert_config(args)
    batches = build_batches(args)
    words = sum(int(b["word_mask"].sum()) for b in batches) / (len(batches) * args.batch_size)
    tokens = sum(int(b["attention_mask"].sum()) for b in batches) / (len(batches) * args.batch_size)
    print(f"{args.size} encoder ({text_config.hidden_size}-d, {text_config.num_hidden_layers} layers), {device}, "
          f"{args.dtype}, batch {args.batch_size}, {words:.1f} words / {tokens:.1f} sub-tokens per tweet, "
          f"{args.threads} CPU threads")
    results = {}
    for name, switches in (("baseline", BASELINE), ("mgcmt", {})):
        model = build_model(args, switches)
        results[name] = measure(model, batches, device, dtype, args.steps)
        del model
        gc.collect()
        if device.type == "cpu":  # peak memory of this model alone, in a new process
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                results[name]["memory"] = pool.apply(cpu_peak_growth, (args, switches, dtype))
    for name, r in results.items():
        print(f"{name:9} params {r['parameters'] / 1e6:7.1f} M  train step {r['train'] * 1000:8.1f} ms  "
              f"inference {r['infer'] * 1000:8.1f} ms  forward {r['flops'] / 1e9:8.1f} GFLOP  "
              f"peak memory {r['memory']:8.0f} MiB")
    base, full = results["baseline"], results["mgcmt"]
    print(f"ratio MGCMT / baseline: train step {full['train'] / base['train']:.2f}x  inference "
          f"{full['infer'] / base['infer']:.2f}x  forward FLOPs {full['flops'] / base['flops']:.2f}x  "
          f"peak memory {full['memory'] / base['memory']:.2f}x")


if __name__ == "__main__":
    main()
