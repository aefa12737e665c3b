#!/usr/bin/env python
"""Cost of the value checks in the forward pass: MGCMT's training step and inference with the checks (the
`config.check_input_values` debug path; every step before they left the hot path) against without (the default),
in the same process on the same batches.

    python benchmarks/bench_checks.py [--size tiny|mini|base] [--device cpu|cuda] [--steps N] [--batch_size B]

On a GPU the checks are device-to-host syncs; on a CPU only their arithmetic, so the CPU ratio is the floor.
"""

from __future__ import annotations

import argparse

import torch

from bench_model import SIZES, build_batches, build_model, measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="mini")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    batches = build_batches(args)
    device = torch.device(args.device)
    results = {}
    for checks in (True, False):
        results[checks] = measure(build_model(args, {"check_input_values": checks}), batches, device, torch.float32,
                                  args.steps)
    print(f"{args.size} encoder, {device}, batch {args.batch_size}, {args.steps} timed steps, {torch.get_num_threads()} threads")
    for checks, label in ((True, "with value checks (debug)"), (False, "without (default)")):
        print(f"{label:<27} train step {results[checks]['train'] * 1e3:8.1f} ms  inference {results[checks]['infer'] * 1e3:8.1f} ms")
    print(f"ratio default / with checks: train step {results[False]['train'] / results[True]['train']:.3f}x  "
          f"inference {results[False]['infer'] / results[True]['infer']:.3f}x")


if __name__ == "__main__":
    main()
