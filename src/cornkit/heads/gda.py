"""Gaussian discriminant analysis on cached CLIP features, added to zero-shot (training-free).

Wang et al., "A hard-to-beat baseline for training-free CLIP-based adaptation" (ICLR 2024):
model each class's image features as a Gaussian with its own mean μ_k and one covariance Σ
shared by all classes. Bayes' rule then gives a linear classifier with no training at all,
weights ``Σ⁻¹μ_k`` and biases ``-½ μ_kᵀΣ⁻¹μ_k + log p_k``, whose logits are added to CLIP's
zero-shot logits with weight α (:mod:`cornkit.heads.blend`).

The covariance of 1024-dimensional features from a few dozen rows is singular, so it must be
shrunk. The paper uses its own ridge-type estimator; this head uses scikit-learn's **OAS**
(oracle approximating shrinkage, Chen et al. 2010) on the pooled within-class deviations. OAS
and Ledoit-Wolf both shrink towards a scaled identity with an intensity computed from the
data (no tuning); OAS is derived under the Gaussian assumption GDA itself makes and has the
lower error of the two when rows are far fewer than dimensions (the few-shot case; see
scikit-learn's "Ledoit-Wolf vs OAS estimation" example). The priors are the training rows'
class frequencies (the paper's few-shot sets are balanced, where this is its uniform prior).

With one training row per class there is no within-class deviation to estimate Σ from; the
head then uses the isotropic ``σ²I`` of the rows around their overall mean (nearest class
mean) and records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import CornkitError
from ..params import AUTO, SearchRange
from .blend import AlphaChoice, alpha_param, choose_alpha, cv_splits, fallback_alpha, fixed_alpha, out_of_fold
from .on_features import FeatureHeadParams, FeatureTask, Fitted, check_every_class_present
from .registry import Head

if TYPE_CHECKING:
    from ..clip.text_classifier import ZeroShotClassifier
    from ..runs.run import Run

ALPHAS: tuple[float, ...] = (0.0, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0)
"""The paper's α grid (searched there on validation rows; here on training folds), plus 0 (zero-shot alone)."""
FALLBACK_ALPHA = 1.0


@dataclass(frozen=True)
class GaussianDiscriminant:
    """The linear classifier of a shared-covariance Gaussian model: ``logits = x @ weights + bias``."""

    weights: np.ndarray
    bias: np.ndarray
    shrinkage: float
    covariance: str

    def logits(self, features: np.ndarray) -> np.ndarray:
        return features.astype(np.float64) @ self.weights + self.bias


def fit_gda(features: np.ndarray, labels: np.ndarray, n_classes: int) -> GaussianDiscriminant:
    """Class means, the OAS-shrunk pooled within-class covariance, and the Bayes-rule weights and biases."""
    from scipy.linalg import cho_factor, cho_solve
    from sklearn.covariance import OAS

    x = features.astype(np.float64)
    counts = np.bincount(labels, minlength=n_classes)
    means = np.stack([x[labels == k].mean(axis=0) for k in range(n_classes)])
    if (counts >= 2).any():
        estimator = OAS(assume_centered=True).fit(x - means[labels])
        covariance, shrinkage, kind = estimator.covariance_, float(estimator.shrinkage_), "OAS (pooled within-class)"
    else:
        variance = float(((x - x.mean(axis=0)) ** 2).sum(axis=1).mean()) / x.shape[1]
        covariance, shrinkage, kind = variance * np.eye(x.shape[1]), 1.0, "isotropic (one row per class)"
    try:
        weights = cho_solve(cho_factor(covariance), means.T)
    except np.linalg.LinAlgError as error:
        raise CornkitError("gda: the training features have no spread (all rows identical?); check the feature cache.") from error
    bias = np.log(counts / counts.sum()) - 0.5 * np.einsum("kd,dk->k", means, weights)
    return GaussianDiscriminant(weights=weights, bias=bias, shrinkage=shrinkage, covariance=kind)


@dataclass(frozen=True, kw_only=True)
class GdaParams(FeatureHeadParams):
    alpha: float | str = alpha_param(AUTO, "weight of the GDA logits added to the zero-shot logits", sweep=SearchRange(1e-4, 100.0, "log"))


@dataclass(frozen=True)
class GdaModel:
    """The fitted head: zero-shot logits plus α times the GDA logits."""

    zeroshot: ZeroShotClassifier
    gda: GaussianDiscriminant
    alpha: float

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        from scipy.special import softmax

        return softmax(self.zeroshot.logits(features) + self.alpha * self.gda.logits(features), axis=1)


def choose_gda_alpha(task: FeatureTask, alpha: float | str) -> AlphaChoice:
    """``alpha`` as given, or chosen on out-of-fold GDA logits of the training rows."""
    if alpha != AUTO:
        return fixed_alpha(float(alpha))
    splits = cv_splits(task.train_labels, task.seed)
    if splits is None:
        return fallback_alpha(FALLBACK_ALPHA)
    x, y = task.train_features, task.train_labels
    terms = out_of_fold(len(y), task.n_classes, splits, lambda fit, held: fit_gda(x[fit], y[fit], task.n_classes).logits(x[held]))
    return choose_alpha(task.zeroshot.logits(x), y, [({}, terms)], ALPHAS, "add", len(splits), task.metric, task.classes)


def fit_gda_task(task: FeatureTask, params: GdaParams) -> Fitted:
    """GDA on one fold's training rows, added to zero-shot with the chosen α."""
    check_every_class_present(task.train_labels, task.classes, "the training rows")
    model = fit_gda(task.train_features, task.train_labels, task.n_classes)
    choice = choose_gda_alpha(task, params.alpha)
    info = {**choice.info(), "shrinkage": model.shrinkage, "covariance": model.covariance}
    return Fitted(GdaModel(task.zeroshot, model, choice.alpha), info)


def _describe(run: Run) -> str:
    return f"alpha per fold: {run.metrics['alpha']} ({run.metrics['alpha_chosen_by'][0]}); covariance shrinkage {run.metrics['shrinkage']}"


HEAD = Head(
    name="gda",
    help="Gaussian discriminant analysis on CLIP features added to zero-shot (training-free, Wang et al. ICLR 2024)",
    params=GdaParams,
    fit=fit_gda_task,
    rank=30,
    describe=_describe,
)
