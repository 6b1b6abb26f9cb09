"""Local scoring: the report, the confusion matrix and the misclassified contact sheet."""

from __future__ import annotations

import numpy as np
from PIL import Image

from cornkit.clip_model import ClipSpec
from cornkit.metrics import confusion
from cornkit.probe import run_probe
from cornkit.scoring import score_run, solution_accuracy


def test_score_writes_report_and_pictures_that_match_the_predictions(clip_work, tiny_clip: ClipSpec) -> None:
    dataset, split, work, _ = clip_work
    run = run_probe(dataset, split, work, tiny_clip, cs=(10.0,), cv_folds=3, num_workers=0)
    report = score_run(run, dataset)
    wrong = int((run.val_labels != run.val_predictions()).sum())
    assert f"accuracy:          {run.metrics['val_accuracy']:.4f}" in report.text
    assert all(name in report.text for name in dataset.classes)
    matrix = confusion(run.val_labels, run.val_predictions(), run.classes)
    assert matrix.sum() == len(run.val) and np.trace(matrix) == len(run.val) - wrong
    for picture in (report.confusion_path, report.misclassified_path):
        with Image.open(picture) as image:
            assert image.format == "PNG" and image.size[0] > 200
    assert report.report_path.read_text() == report.text


def test_solution_accuracy_splits_public_and_private(clip_work, tiny_clip: ClipSpec) -> None:
    dataset, split, work, _ = clip_work
    run = run_probe(dataset, split, work, tiny_clip, cs=(10.0,), cv_folds=3, num_workers=0)
    scores = solution_accuracy(run, dataset.root / "solution.csv")
    assert set(scores) == {"all", "public", "private"}
    assert min(scores["public"], scores["private"]) <= scores["all"] <= max(scores["public"], scores["private"])
