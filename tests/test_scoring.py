"""Local scoring: the report, the confusion matrix and the misclassified contact sheet.

The Runs here are built by hand with known predictions, so every expected number is worked
out in the test, not recomputed with the code under test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from conftest import validation_rows
from cornkit.runs.metrics import confusion
from cornkit.runs.run import make_run, save_run
from cornkit.runs.scoring import score_run, solution_accuracy


def _one_hot(names, classes) -> np.ndarray:
    return np.eye(len(classes))[[classes.index(n) for n in names]] * 0.7 + 0.3 / len(classes)


def test_score_writes_report_and_pictures_that_match_the_predictions(clip_work, tmp_path: Path) -> None:
    dataset, _, _, _ = clip_work
    broken, _discolored, pure, silkcut = dataset.classes
    ids = dataset.ids("train")[:6]
    labels = [pure, pure, pure, broken, broken, silkcut]
    predicted = [pure, pure, broken, broken, pure, pure]  # right: 3 of 6; recall pure 2/3, broken 1/2, silkcut 0/1
    run = make_run(
        approach="hand",
        model="m",
        classes=dataset.classes,
        split=validation_rows(ids, labels, "test-split"),
        val_probs=_one_hot(predicted, dataset.classes),
        test_ids=dataset.ids("test"),
        test_probs=_one_hot([pure] * len(dataset.test), dataset.classes),
        config={},
        seed=0,
    )
    save_run(run, tmp_path)
    report = score_run(run, dataset)
    assert "accuracy:          0.5000" in report.text
    assert f"balanced accuracy: {(2 / 3 + 1 / 2 + 0) / 3:.4f}" in report.text
    assert all(name in report.text for name in dataset.classes)
    expected = np.zeros((4, 4), dtype=int)  # rows true, columns predicted: broken, discolored, pure, silkcut
    expected[0, 0], expected[0, 2], expected[2, 2], expected[2, 0], expected[3, 2] = 1, 1, 2, 1, 1
    np.testing.assert_array_equal(confusion(labels, predicted, dataset.classes), expected)
    for picture in (report.confusion_path, report.misclassified_path):
        with Image.open(picture) as image:
            assert image.format == "PNG" and image.size[0] > 200
    assert report.report_path.read_text() == report.text


def test_solution_accuracy_scores_public_and_private_rows_by_id(tmp_path: Path) -> None:
    """Run rows in another order than solution.csv: a positional comparison would score wrongly."""
    classes = ("a", "b")
    solution = pd.DataFrame(
        {
            "seed_id": [10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
            "label": ["a", "a", "b", "b", "a", "a", "b", "b", "a", "b"],
            "Usage": ["Public"] * 4 + ["Private"] * 6,
        }
    )
    solution.to_csv(tmp_path / "solution.csv", index=False)
    # Right on ids 10, 11, 12 (public: 3 of 4) and 14, 15 (private: 2 of 6); 5 of 10 overall.
    predicted = {10: "a", 11: "a", 12: "b", 13: "a", 14: "a", 15: "a", 16: "a", 17: "a", 18: "b", 19: "a"}
    order = [19, 12, 15, 10, 17, 11, 14, 18, 13, 16]
    run = make_run(
        approach="hand",
        model="m",
        classes=classes,
        split=validation_rows([1, 2], ["a", "b"], "test-split"),
        val_probs=_one_hot(["a", "b"], classes),
        test_ids=order,
        test_probs=_one_hot([predicted[i] for i in order], classes),
        config={},
        seed=0,
    )
    assert solution_accuracy(run, tmp_path / "solution.csv") == {"all": 0.5, "public": 0.75, "private": 2 / 6}
