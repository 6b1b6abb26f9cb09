"""Near-duplicate search at It's Corn's size: time and peak memory of ``cornkit dupes``'s similarity blocks.

Not part of the test suite. Seeded Gaussian features of It's Corn's shape (14,322 train and
3,479 test images, 1,024 dimensions as ViT-H-14 gives), with a handful of planted copies so the
search has something to find:

    .venv/bin/python benchmarks/dupes.py [--block-rows 1024]

It prints the seconds and the peak memory the search allocated (tracemalloc), beside the
1.3 GB one float32 matrix of every pair would take.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from cornkit.reports.dupes import BLOCK_ROWS, centred_unit, similar_pairs

N_TRAIN, N_TEST, DIM, PLANTED = 14_322, 3_479, 1024, 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--block-rows", type=int, default=BLOCK_ROWS)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    train = rng.normal(size=(N_TRAIN, DIM)).astype(np.float32)
    test = rng.normal(size=(N_TEST, DIM)).astype(np.float32)
    test[:PLANTED] = train[:PLANTED]
    labels = rng.integers(0, 4, N_TRAIN)
    mean = np.vstack([train, test]).mean(axis=0)
    train, test = centred_unit(train, mean), centred_unit(test, mean)

    tracemalloc.start()
    start = time.perf_counter()
    leaks = similar_pairs(test, train, 0.99, block_rows=args.block_rows)
    noise = similar_pairs(train, train, 0.99, same_set=True, query_labels=labels, reference_labels=labels, block_rows=args.block_rows)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    full = (N_TRAIN + N_TEST) ** 2 * 4
    print(f"{N_TRAIN} train + {N_TEST} test features of dimension {DIM}, blocks of {args.block_rows} rows")
    print(f"train-test pairs found: {len(leaks[0])} (planted {PLANTED}); train-train pairs with different labels: {len(noise[0])}")
    print(f"search: {seconds:.1f} s, peak memory {peak / 2**20:.0f} MiB (the whole float32 matrix would be {full / 2**30:.2f} GiB)")


if __name__ == "__main__":
    main()
