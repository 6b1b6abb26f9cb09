"""Checks every head that mixes with zero-shot must pass (gda, tip, probe --alpha): shared by their test files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cornkit.clip.text_classifier import ZeroShotClassifier
from cornkit.data.split import Split
from cornkit.heads.on_features import FeatureTask, Fitted
from cornkit.heads.registry import run_head
from cornkit.runs.run import Run

CLIP: dict[str, str | int] = {"model": "cornkit-tiny-clip", "pretrained": "none", "workers": 0}


def zeroshot_run(clip_work) -> Run:
    dataset, split, work, _ = clip_work
    return run_head("zeroshot", dataset, split, work, **CLIP)


def assert_same_predictions(run: Run, reference: Run) -> None:
    """Same argmax on every validation and test row (and, as the logits are the same, the same probabilities)."""
    assert np.array_equal(run.val_probs.argmax(axis=1), reference.val_probs.argmax(axis=1))
    assert np.array_equal(run.test_probs.argmax(axis=1), reference.test_probs.argmax(axis=1))
    np.testing.assert_allclose(run.val_probs, reference.val_probs, atol=1e-9)
    np.testing.assert_allclose(run.test_probs, reference.test_probs, atol=1e-9)


def relabelled_split(split: Split) -> Split:
    """The same split with every validation row's label moved to the next class: only the scoring may notice."""
    frame = split.frame.copy()
    classes = sorted(frame["label"].unique())
    valid = frame["fold"] >= 0
    frame.loc[valid, "label"] = frame.loc[valid, "label"].map(lambda label: classes[(classes.index(label) + 1) % len(classes)])
    return Split(frame=frame, params=split.params, split_id=split.split_id)


def run_on_relabelled_split(clip_work, tmp_path: Path, head: str, **flags) -> tuple[Run, Run]:
    """``head`` on the saved split and on the relabelled one (its own work folder, the same cached features)."""
    dataset, split, work, features = clip_work
    original = run_head(head, dataset, split, work, **CLIP, **flags)
    other_work = tmp_path / "relabelled"
    other_work.mkdir()
    (other_work / "features").symlink_to(features.path.parent)
    relabelled = run_head(head, dataset, relabelled_split(split), other_work, **CLIP, **flags)
    return original, relabelled


def few_shot_task(shots: int, n_classes: int = 4, dim: int = 16, seed: int = 0) -> FeatureTask:
    """A task with ``shots`` training rows per class and a random text classifier: no model, no files."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim))

    def unit(rows: np.ndarray) -> np.ndarray:
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    labels = np.repeat(np.arange(n_classes), shots)
    train = unit(centres[labels] + 0.5 * rng.normal(size=(len(labels), dim)))
    evaluate = unit(centres[rng.integers(0, n_classes, 20)] + 0.5 * rng.normal(size=(20, dim)))
    text = unit(rng.normal(size=(n_classes, dim))).T
    classifier = ZeroShotClassifier(weights=text, column_class=np.arange(n_classes), combine="mean", logit_scale=100.0)
    classes = tuple(f"class{k}" for k in range(n_classes))
    task = FeatureTask(train, labels, classes, 0, lambda: classifier)
    task.eval_features = evaluate  # type: ignore[attr-defined]  # the rows the tests score the fitted model on
    return task


def eval_probs(fitted: Fitted, task: FeatureTask) -> np.ndarray:
    """The fitted model's probabilities of the task's evaluation rows."""
    return fitted.model.predict_proba(task.eval_features)  # type: ignore[attr-defined]


def head_params(head: str, **values: object):
    """The head's parameters with its declared defaults and the tiny CLIP model (what ``cornkit shots`` builds)."""
    from cornkit.heads.registry import get_head

    return get_head(head).build_params(**CLIP, **values)
