"""Each synthetic layout, from its folder to a validated submission in its sample's shape, scored as Kaggle would score it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from conftest import cli
from cornkit.data.synth import CLASSES, make_synthetic_corn
from cornkit.errors import CornkitError
from cornkit.runs.run import load_run

CLIP = ["--model", "cornkit-tiny-clip", "--pretrained", "none", "--workers", "0"]


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("corn", "submission: a label column 'label' holding the class"),
        ("probabilities", "submission: one probability column per class (4, in the sample's order)"),
        ("binary", "submission: one column 'label' holding the probability of class '1'"),
    ],
)
def test_cornkit_data_says_what_each_layout_asks_for(layout: str, expected: str, tmp_path: Path, capsys) -> None:
    data = tmp_path / layout
    assert cli(capsys, "synth", "--out", data, "--n-train", 24, "--n-test", 6, "--layout", layout)[0] == 0
    code, out, err = cli(capsys, "data", "--data", data)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert any(line.startswith(expected) for line in lines), lines
    classes = "0 9, 1 15" if layout == "binary" else "broken 4, discolored 7, pure 9, silkcut 4"
    assert f"labels: column 'label', {2 if layout == 'binary' else 4} classes: {classes}" in lines
    assert "training rows: 24 in train.csv" in lines and "test rows: 6 in test.csv, the same ids as sample_submission.csv" in lines


def test_every_layout_draws_the_same_images_and_only_binary_relabels(tmp_path: Path, capsys) -> None:
    for layout in ("corn", "binary"):
        assert cli(capsys, "synth", "--out", tmp_path / layout, "--n-train", 24, "--n-test", 6, "--layout", layout)[0] == 0
    corn, binary = (pd.read_csv(tmp_path / name / "train.csv", dtype=str) for name in ("corn", "binary"))
    assert (tmp_path / "corn" / "train" / "00003.png").read_bytes() == (tmp_path / "binary" / "train" / "00003.png").read_bytes()
    assert binary["label"].tolist() == ["0" if label == "pure" else "1" for label in corn["label"]]


def test_an_unknown_layout_is_refused_before_anything_is_drawn(tmp_path: Path) -> None:
    with pytest.raises(CornkitError, match="--layout 'mnist': give one of corn, probabilities, binary, cassava, dogbreed, folders"):
        make_synthetic_corn(tmp_path / "x", layout="mnist")
    assert not (tmp_path / "x").exists()


def _split_probe_submit_predict(data: Path, work: Path, metric: str, capsys) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    common = ["--data", data, "--work", work]
    assert cli(capsys, "split", *common, "--metric", metric)[0] == 0
    code, out, err = cli(capsys, "probe", *common, *CLIP, "--cs", "1,100", "--cv-folds", 3)
    assert code == 0, err
    run_id = out.strip().splitlines()[-1]
    code, out, err = cli(capsys, "submit", run_id, *common, "--submissions", work.parent / "subs")
    assert code == 0, err
    submitted = pd.read_csv(out.strip().splitlines()[-1], dtype={"seed_id": str})
    code, out, err = cli(capsys, "predict", run_id, *common)
    assert code == 0, err
    predicted = pd.read_csv(Path(out.strip().splitlines()[-1]) / "submission.csv", dtype={"seed_id": str})
    return run_id, submitted, predicted


@pytest.mark.parametrize("layout", ["probabilities", "binary"])
def test_a_layout_goes_from_its_folder_to_a_submission_in_its_samples_shape_scored_like_the_run(layout: str, tmp_path: Path, capsys) -> None:
    data, work = tmp_path / "data", tmp_path / "work"
    assert cli(capsys, "synth", "--out", data, "--n-train", 120, "--n-test", 30, "--seed", 4, "--layout", layout)[0] == 0
    metric = "log_loss" if layout == "probabilities" else "roc_auc"
    run_id, submitted, predicted = _split_probe_submit_predict(data, work, metric, capsys)
    sample = pd.read_csv(data / "sample_submission.csv", dtype={"seed_id": str})
    solution = pd.read_csv(data / "solution.csv", dtype=str).set_index("seed_id").loc[submitted["seed_id"]]
    assert list(submitted.columns) == list(sample.columns) and submitted["seed_id"].tolist() == sample["seed_id"].tolist()
    pd.testing.assert_frame_equal(predicted, submitted, atol=1e-6)

    run = load_run(run_id, work)
    assert f"val_{metric}" in run.metrics
    order = [run.test_ids.tolist().index(i) for i in submitted["seed_id"]]
    probs = np.maximum(run.test_probs[order], 1e-6)
    probs /= probs.sum(axis=1, keepdims=True)
    if layout == "probabilities":
        assert list(submitted.columns[1:]) == list(CLASSES)  # the sample's order, not the Run's sorted one
        values = submitted[sorted(CLASSES)].to_numpy()  # scikit-learn reads columns in sorted label order
        np.testing.assert_allclose(values.sum(axis=1), 1, atol=1e-6)
        assert values.min() >= 1e-6 / 1.01
        score = log_loss(solution["label"], values, labels=sorted(CLASSES))
        expected = log_loss(solution["label"], probs[:, [list(run.classes).index(c) for c in sorted(CLASSES)]], labels=sorted(CLASSES))
    else:
        assert submitted["label"].between(0, 1).all() and submitted["label"].nunique() > 1
        score = roc_auc_score(solution["label"] == "1", submitted["label"])
        expected = roc_auc_score(solution["label"] == "1", probs[:, list(run.classes).index("1")])
    assert score == pytest.approx(expected, abs=1e-9)
    ledger = pd.read_csv(tmp_path / "subs" / "ledger.csv", dtype=str)
    assert ledger["metric"].tolist() == [metric]
    assert float(ledger["val_metric"].iloc[0]) == pytest.approx(run.metrics[f"val_{metric}"])
