"""WiSE-FT (Wortsman et al., CVPR 2022): interpolate the fine-tuned weights with the zero-shot ones.

θ = (1 - α)·θ_zero-shot + α·θ_fine-tuned, tensor by tensor. ``α = 0`` is the zero-shot model
(the CLIP tower with the prompt set's text head), ``α = 1`` the plain fine-tuned one. ``auto``
scores α = 0, 0.1, ..., 1 on the monitor rows (training rows held out of the gradient steps,
never the validation rows the Run is scored on) and keeps the best; the curve goes into the
Run's metrics and ``wise.png``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .settings import WISE_ALPHAS

StateDict = dict[str, torch.Tensor]


def snapshot(model: nn.Module) -> StateDict:
    """A copy of the model's weights on the CPU (the zero-shot end of the interpolation)."""
    return {name: value.detach().to("cpu", copy=True) for name, value in model.state_dict().items()}


def interpolate(zeroshot: StateDict, finetuned: StateDict, alpha: float) -> StateDict:
    """(1 - α)·zero-shot + α·fine-tuned for every floating-point tensor; others (counters) from the fine-tuned model."""
    return {
        name: torch.lerp(zeroshot[name].float(), value.float(), alpha).to(value.dtype) if value.is_floating_point() else value
        for name, value in finetuned.items()
    }


def apply_wise(model: nn.Module, zeroshot: StateDict, alpha: float) -> None:
    """Load the α-interpolation of ``model``'s current (fine-tuned) weights and ``zeroshot`` into ``model``."""
    finetuned = snapshot(model)
    model.load_state_dict(interpolate(zeroshot, finetuned, alpha))


def sweep_alpha(
    model: nn.Module,
    zeroshot: StateDict,
    score: Callable[[nn.Module], float],
    alphas: Sequence[float] = WISE_ALPHAS,
    greater_is_better: bool = True,
) -> tuple[float, list[float]]:
    """Score every α with ``score`` (the competition's metric on the monitor rows); leave the best interpolation in ``model``.

    Best is in the metric's direction (``greater_is_better=False`` for log loss). Ties go to the
    smaller α: closer to zero-shot, the more robust end.
    """
    finetuned = snapshot(model)
    scores = []
    for alpha in alphas:
        model.load_state_dict(interpolate(zeroshot, finetuned, alpha))
        scores.append(float(score(model)))
    best = float(alphas[int(np.argmax(scores) if greater_is_better else np.argmin(scores))])
    model.load_state_dict(interpolate(zeroshot, finetuned, best))
    return best, scores
