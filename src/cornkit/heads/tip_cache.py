"""The Tip-Adapter cache model: keys, one-hot values, affinity logits, and fine-tuning the keys (Tip-Adapter-F).

Pure functions on arrays, used by :mod:`cornkit.heads.tip`; torch is imported only to fine-tune.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

BATCH_SIZE = 256
ROWS_PER_CHUNK = 4096
"""Affinities are computed this many rows at a time, so 10k x 10k caches stay within memory."""


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """The cache values: one row per training row, 1 in its class's column."""
    return np.eye(n_classes)[labels]


def cache_keys(features: np.ndarray, views: np.ndarray | None = None) -> np.ndarray:
    """Unit keys: the rows' features, or the normalised mean of their augmented views ``(K, n, dim)``."""
    keys = features.astype(np.float64) if views is None else views.astype(np.float64).mean(axis=0)
    return keys / np.linalg.norm(keys, axis=1, keepdims=True)


def cache_logits(features: np.ndarray, keys: np.ndarray, values: np.ndarray, betas: Sequence[float]) -> list[np.ndarray]:
    """``exp(-β(1 - features @ keysᵀ)) @ values`` for each β (the affinity is computed once per chunk of rows)."""
    out = [np.zeros((len(features), values.shape[1])) for _ in betas]
    for start in range(0, len(features), ROWS_PER_CHUNK):
        affinity = features[start : start + ROWS_PER_CHUNK].astype(np.float64) @ keys.T
        for logits, beta in zip(out, betas, strict=True):
            logits[start : start + ROWS_PER_CHUNK] = np.exp(-beta * (1.0 - affinity)) @ values
    return out


def fine_tune_keys(
    keys: np.ndarray,
    values: np.ndarray,
    epoch_inputs: Sequence[np.ndarray],
    zeroshot_logits: np.ndarray,
    labels: np.ndarray,
    *,
    alpha: float,
    beta: float,
    epochs: int,
    lr: float,
    seed: int,
    after_epoch: Callable[[int, np.ndarray], None] | None = None,
) -> np.ndarray:
    """Tip-Adapter-F: the keys as parameters, AdamW on the cross-entropy of ``zero-shot + alpha · cache``.

    Row ``i`` of every input is training row ``i``, whose own key is masked out of its cache
    logits (leave-one-out). Epoch ``e`` trains on ``epoch_inputs[e % len(epoch_inputs)]``;
    ``after_epoch(e, keys)`` sees the keys after each epoch (the epoch count is chosen that way).
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    weights = torch.nn.Parameter(torch.tensor(keys, dtype=torch.float32))
    value_tensor = torch.tensor(values, dtype=torch.float32)
    zeroshot = torch.tensor(zeroshot_logits, dtype=torch.float32)
    targets = torch.as_tensor(labels, dtype=torch.long)
    n_rows = len(labels)
    optimizer = torch.optim.AdamW([weights], lr=lr, eps=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs * -(-n_rows // BATCH_SIZE)))
    for epoch in range(epochs):
        inputs = torch.tensor(epoch_inputs[epoch % len(epoch_inputs)], dtype=torch.float32)
        for batch in torch.randperm(n_rows, generator=generator).split(BATCH_SIZE):
            affinity = inputs[batch] @ weights.T
            own_key = torch.zeros_like(affinity, dtype=torch.bool)
            own_key[torch.arange(len(batch)), batch] = True
            votes = torch.exp(-beta * (1.0 - affinity)).masked_fill(own_key, 0.0) @ value_tensor
            loss = torch.nn.functional.cross_entropy(zeroshot[batch] + alpha * votes, targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        if after_epoch is not None:
            after_epoch(epoch + 1, weights.detach().numpy().astype(np.float64))
    return weights.detach().numpy().astype(np.float64)
