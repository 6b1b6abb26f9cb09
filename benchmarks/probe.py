"""The probe's C search: the old GridSearchCV (15 C x 5 folds, each fit from zero) against the kit's probe.

Not part of the test suite. Seeded Gaussian-mixture features shaped like the competition's
(11,440 training rows x 1024 dimensions, 4 classes, rows L2-normalised as CLIP's are) plus held-out
validation rows drawn from the same mixture; both probes search the same C grid on the same
stratified folds with accuracy scoring and refit the chosen C on all training rows. Prints both
times, their ratio, the chosen Cs and both validation accuracies.

    .venv/bin/python benchmarks/probe.py
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from cornkit.defaults import DEFAULT_SEED
from cornkit.heads.probe import DEFAULT_CS, MAX_ITER, fit_probe


def gaussian_mixture(n_rows: int, dim: int, n_classes: int, separation: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rows around one class mean each (random directions, shared offset), unit length like CLIP features."""
    shared = rng.normal(size=dim)
    means = rng.normal(size=(n_classes, dim))
    labels = rng.integers(0, n_classes, size=n_rows)
    rows = 3.0 * shared / np.linalg.norm(shared) + separation * means[labels] / np.sqrt(dim) + rng.normal(size=(n_rows, dim)) / np.sqrt(dim) * 4.0
    return rows / np.linalg.norm(rows, axis=1, keepdims=True), labels


def grid_search_probe(features: np.ndarray, labels: np.ndarray, seed: int) -> GridSearchCV:
    """The probe before this benchmark: GridSearchCV over the same Cs, every fit from zero."""
    search = GridSearchCV(
        LogisticRegression(max_iter=MAX_ITER),
        {"C": list(DEFAULT_CS)},
        cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=seed),
        scoring="accuracy",
        n_jobs=-1,
    )
    return search.fit(features, labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=11440)
    parser.add_argument("--valid-rows", type=int, default=2860)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--separation", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    features, labels = gaussian_mixture(args.rows + args.valid_rows, args.dim, args.classes, args.separation, rng)
    train_x, train_y = features[: args.rows], labels[: args.rows]
    valid_x, valid_y = features[args.rows :], labels[args.rows :]

    started = time.perf_counter()
    grid = grid_search_probe(train_x, train_y, args.seed)
    grid_seconds = time.perf_counter() - started
    started = time.perf_counter()
    fast = fit_probe(train_x, train_y, seed=args.seed)
    fast_seconds = time.perf_counter() - started

    grid_accuracy = float((grid.predict(valid_x) == valid_y).mean())
    fast_accuracy = float((fast.estimator.predict(valid_x) == valid_y).mean())
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; features {args.rows} x {args.dim}, {args.classes} classes, {len(DEFAULT_CS)} Cs x 5 folds")
    print(f"GridSearchCV (before):        {grid_seconds:6.1f} s  chosen C {grid.best_params_['C']:.4g}  validation accuracy {grid_accuracy:.4f}")
    print(f"probe (LogisticRegressionCV): {fast_seconds:6.1f} s  chosen C {fast.C:.4g}  validation accuracy {fast_accuracy:.4f}")
    print(f"speed-up {grid_seconds / fast_seconds:.2f}x; accuracy difference {100 * (fast_accuracy - grid_accuracy):+.2f} points")


if __name__ == "__main__":
    main()
