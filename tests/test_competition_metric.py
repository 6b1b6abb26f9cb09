"""The competition's metric: recorded with the split, reported by every Run, computed as scikit-learn does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import softmax
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score, cohen_kappa_score, f1_score, log_loss, roc_auc_score
from sklearn.model_selection import GridSearchCV

from blend_checks import CLIP
from conftest import cli, one_line_error
from cornkit.data.dataset import load_dataset
from cornkit.data.split import load_split, make_split
from cornkit.errors import CornkitError
from cornkit.heads.blend import choose_alpha
from cornkit.heads.probe import fit_probe
from cornkit.heads.registry import run_head
from cornkit.metric_names import METRIC_NAMES, positive_class
from cornkit.runs.competition_metric import METRICS, get_metric
from cornkit.runs.run import load_run, make_run, save_run

TWO_CLASSES = {"broken": "no", "discolored": "no", "pure": "yes", "silkcut": "no"}
RATINGS = {"broken": "10", "discolored": "2", "pure": "0", "silkcut": "1"}
"""Integer labels whose text order (0, 1, 10, 2) is not their numeric order (0, 1, 2, 10)."""


def _sklearn(metric: str, frame: pd.DataFrame, classes: list[str]) -> float:
    """The metric recomputed from a ``val_probs.csv`` with scikit-learn alone, as a Kaggle scorer would."""
    truth, probs = frame["label"].astype(str).to_numpy(), frame[classes].to_numpy()
    predicted = np.asarray(classes)[probs.argmax(axis=1)]
    if metric == "accuracy":
        return accuracy_score(truth, predicted)
    if metric == "balanced_accuracy":
        return balanced_accuracy_score(truth, predicted)
    if metric in ("f1_macro", "f1_micro"):
        return f1_score(truth, predicted, average=metric[3:], zero_division=0)
    if metric == "log_loss":
        order = sorted(classes)
        return log_loss(truth, frame[order].to_numpy(), labels=order)
    if metric == "roc_auc":
        return roc_auc_score(truth == "yes", frame["yes"])
    if metric == "roc_auc_ovr":
        return float(np.mean([roc_auc_score(truth == c, frame[c]) for c in classes]))
    assert metric == "quadratic_kappa"
    return cohen_kappa_score(truth.astype(int), predicted.astype(int), weights="quadratic")


def _relabelled(corn_copy: Path, mapping: dict[str, str] | None) -> Path:
    if mapping is not None:
        train = pd.read_csv(corn_copy / "train.csv")
        train["label"] = train["label"].map(mapping)
        train.to_csv(corn_copy / "train.csv", index=False)
    return corn_copy


def test_every_metric_name_has_its_computation() -> None:
    assert tuple(METRICS) == METRIC_NAMES
    assert [name for name, metric in METRICS.items() if not metric.greater_is_better] == ["log_loss"]


@pytest.mark.parametrize(
    ("classes", "positive"), [(("no", "yes"), "yes"), (("1", "0"), "1"), (("True", "False"), "True"), (("dog", "cat"), "dog"), (("b", "a"), "b")]
)
def test_the_positive_class_is_the_larger_label(classes: tuple[str, str], positive: str) -> None:
    assert positive_class(classes) == positive


def test_log_loss_and_auc_read_columns_in_class_order_not_sorted_order() -> None:
    classes = ("pure", "broken", "silkcut")  # not sorted: scikit-learn would read the columns as broken, pure, silkcut
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=60)
    labels = np.asarray(classes)[rng.integers(0, 3, 60)]
    order = np.argsort(classes)
    assert get_metric("log_loss").score(labels, probs, classes) == pytest.approx(log_loss(labels, probs[:, order], labels=sorted(classes)))
    expected_auc = np.mean([roc_auc_score(labels == c, probs[:, k]) for k, c in enumerate(classes)])
    assert get_metric("roc_auc_ovr").score(labels, probs, classes) == pytest.approx(expected_auc)


def test_quadratic_kappa_orders_integer_labels_numerically() -> None:
    classes = ("0", "1", "10", "2")
    truth = np.array(["0", "1", "2", "10", "10", "2"])
    probs = np.eye(4)[[0, 1, 2, 2, 3, 3]]  # predicts 0, 1, 10, 10, 2, 2
    expected = cohen_kappa_score([0, 1, 2, 10, 10, 2], [0, 1, 10, 10, 2, 2], weights="quadratic", labels=[0, 1, 2, 10])
    assert get_metric("quadratic_kappa").score(truth, probs, classes) == pytest.approx(expected)


@pytest.mark.parametrize("metric", METRIC_NAMES)
def test_every_run_reports_the_splits_metric_as_scikit_learn_computes_it(metric: str, corn_copy: Path, tmp_path: Path) -> None:
    mapping = {"roc_auc": TWO_CLASSES, "quadratic_kappa": RATINGS}.get(metric)
    dataset = load_dataset(_relabelled(corn_copy, mapping), check_images=False)
    split = make_split(dataset, tmp_path / "work", metric=metric)
    assert load_split(tmp_path / "work").metric == metric
    n_val = len(split.evaluation_ids())
    rng = np.random.default_rng(1)
    run = make_run(
        approach="random",
        model="none",
        classes=dataset.classes,
        split=split,
        val_probs=rng.dirichlet(np.ones(len(dataset.classes)), size=n_val),
        test_ids=dataset.ids("test"),
        test_probs=np.full((len(dataset.ids("test")), len(dataset.classes)), 1 / len(dataset.classes)),
        config={},
        seed=0,
    )
    folder = save_run(run, tmp_path / "work")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert {"val_accuracy", "val_balanced_accuracy", f"val_{metric}"} <= set(metrics)
    frame = pd.read_csv(folder / "val_probs.csv", dtype={"label": str})
    assert metrics[f"val_{metric}"] == pytest.approx(_sklearn(metric, frame, list(dataset.classes)), abs=1e-6)
    assert load_run(folder).metric == metric


def test_a_head_run_on_a_metric_split_reports_it_and_records_it(corn_dir: Path, tmp_path: Path, clip_work) -> None:
    dataset = load_dataset(corn_dir)
    split = make_split(dataset, tmp_path, metric="f1_macro")
    (tmp_path / "features").symlink_to(clip_work[3].path.parent)
    run = run_head("zeroshot", dataset, split, tmp_path, **CLIP)
    default_run = run_head("zeroshot", *clip_work[:3], **CLIP)
    frame = pd.read_csv(run.path / "val_probs.csv", dtype={"label": str})
    assert run.metrics["val_f1_macro"] == pytest.approx(_sklearn("f1_macro", frame, list(dataset.classes)), abs=1e-6)
    assert run.config["metric"] == "f1_macro" and "metric" not in default_run.config
    assert run.run_id != default_run.run_id  # the same probabilities, but scored (and chosen) by another metric
    f1, accuracy = run.metrics["val_f1_macro"], run.metrics["val_accuracy"]
    assert run.validation_score() == f"validation f1_macro {f1:.4f} (accuracy {accuracy:.4f})"
    assert default_run.validation_score() == f"validation accuracy {default_run.metrics['val_accuracy']:.4f}"


def test_the_default_metric_leaves_the_split_and_its_id_as_they_were(corn_dir: Path, tmp_path: Path) -> None:
    dataset = load_dataset(corn_dir, check_images=False)
    default = make_split(dataset, tmp_path / "a")
    assert "metric" not in json.loads((tmp_path / "a" / "split.json").read_text())
    assert make_split(dataset, tmp_path / "b", metric="log_loss").split_id == default.split_id
    assert make_split(dataset, tmp_path / "a", metric="accuracy").split_id == default.split_id  # asking again as before: the same split


def test_another_metric_is_a_different_split_refused_unless_forced(corn_dir: Path, tmp_path: Path) -> None:
    dataset = load_dataset(corn_dir, check_images=False)
    make_split(dataset, tmp_path)
    with pytest.raises(CornkitError, match=r"metric: saved 'accuracy', asked 'log_loss'"):
        make_split(dataset, tmp_path, metric="log_loss")
    assert make_split(dataset, tmp_path, metric="log_loss", force=True).metric == "log_loss"
    with pytest.raises(CornkitError, match=r"metric: saved 'log_loss', asked 'accuracy'"):
        make_split(dataset, tmp_path)


def test_an_unknown_metric_is_one_line_listing_the_names(corn_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "split", "--data", corn_dir, "--work", tmp_path, "--metric", "auc")
    one_line_error(code, err, "--metric", "'auc'", *METRIC_NAMES)
    assert not (tmp_path / "split.csv").exists()


@pytest.mark.parametrize(("metric", "needle"), [("roc_auc", "roc_auc_ovr"), ("quadratic_kappa", "integer class labels")])
def test_a_metric_the_classes_cannot_take_is_refused_at_the_split(metric: str, needle: str, corn_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(CornkitError, match=needle):
        make_split(load_dataset(corn_dir, check_images=False), tmp_path, metric=metric)


def test_the_probe_chooses_c_by_the_splits_metric_in_its_direction() -> None:
    """Accuracy is happy with a tiny C (probabilities near ½, argmax right); log loss wants confident probabilities."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 80)
    features = rng.normal(size=(80, 60))
    features[:, 0] += 2 * labels - 1
    cs = (0.01, 0.1, 1.0, 100.0)
    chosen = {}
    for metric, scoring in (("accuracy", "accuracy"), ("log_loss", "neg_log_loss")):
        fit = fit_probe(features, labels, cs=cs, metric=metric, classes=("no", "yes"), seed=0)
        search = GridSearchCV(LogisticRegression(max_iter=5000), {"C": list(cs)}, scoring=scoring, cv=fit.splits).fit(features, labels)
        assert search.best_params_["C"] == fit.C, metric
        assert fit.cv_score == pytest.approx(abs(search.best_score_), abs=1e-3)
        chosen[metric] = fit.C
    assert chosen["accuracy"] != chosen["log_loss"]


def test_a_probe_run_records_its_cross_validated_metric(corn_dir: Path, tmp_path: Path, clip_work) -> None:
    dataset = load_dataset(corn_dir)
    split = make_split(dataset, tmp_path, metric="log_loss")
    (tmp_path / "features").symlink_to(clip_work[3].path.parent)
    run = run_head("probe", dataset, split, tmp_path, **CLIP, cs="0.1,10,1000", cv_folds=3)
    assert set(run.metrics["chosen_C"]) <= {0.1, 10.0, 1000.0} and run.metrics["cv_log_loss"][0] > 0
    assert "cv_accuracy" not in run.metrics and "val_log_loss" in run.metrics


def test_alpha_is_chosen_by_the_metric_in_its_direction() -> None:
    """Zero-shot right on every row but timid: adding its own logits back sharpens it.

    Accuracy is the same for every α, so it keeps the smallest (zero-shot as it was); log loss
    falls as the probabilities sharpen, so it takes the largest. The search records each point's
    score under the metric's name, and the best one.
    """
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 90)
    logits = rng.normal(scale=0.1, size=(90, 3))
    logits[np.arange(90), labels] += 0.5
    alphas = (0.0, 1.0, 10.0)
    classes = ("a", "b", "c")
    by_accuracy = choose_alpha(logits, labels, [({}, logits)], alphas, "add", 3, "accuracy", classes)
    by_log_loss = choose_alpha(logits, labels, [({}, logits)], alphas, "add", 3, "log_loss", classes)
    assert (by_accuracy.alpha, by_log_loss.alpha) == (0.0, 10.0)
    losses = [log_loss(labels, softmax(logits * (1 + alpha), axis=1)) for alpha in alphas]
    assert [row["cv_log_loss"] for row in by_log_loss.search] == pytest.approx(losses)
    assert by_log_loss.info()["alpha_cv_log_loss"] == pytest.approx(min(losses))
    assert "log_loss" in by_log_loss.chosen_by


def test_gda_on_a_log_loss_split_records_the_alpha_search_in_log_loss(corn_dir: Path, tmp_path: Path, clip_work) -> None:
    dataset = load_dataset(corn_dir)
    split = make_split(dataset, tmp_path, metric="log_loss")
    (tmp_path / "features").symlink_to(clip_work[3].path.parent)
    run = run_head("gda", dataset, split, tmp_path, **CLIP, alpha="auto")
    search = run.metrics["alpha_search"][0]
    assert all("cv_log_loss" in row and "cv_accuracy" not in row for row in search)
    assert run.metrics["alpha_cv_log_loss"] == [min(row["cv_log_loss"] for row in search)]


def test_log_loss_runs_are_temperature_scaled_cross_fitted_and_predict_applies_the_same_temperature(corn_dir: Path, tmp_path: Path) -> None:
    """Over-confident probabilities on a log-loss split: the Run records them scaled (argmax unchanged), its validation rows
    scaled with temperatures fitted on other folds, and a lower log loss than before, both recorded; one already calibrated
    keeps its probabilities."""
    from cornkit.runs.calibration import fit_temperature, scale

    dataset = load_dataset(corn_dir, check_images=False)
    split = make_split(dataset, tmp_path / "work", metric="log_loss")
    classes = list(dataset.classes)
    labels = split.validation_rows().labels
    rng = np.random.default_rng(0)
    truth = np.array([classes.index(label) for label in labels])
    logits = rng.normal(size=(len(labels), len(classes))) + 1.5 * np.eye(len(classes))[truth]
    honest = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    overconfident = scale(honest, 0.2)  # five times too sharp
    test_probs = scale(rng.dirichlet(np.ones(len(classes)), size=len(dataset.test)), 0.2)
    run = make_run(
        approach="sharp", model="m", classes=classes, split=split, val_probs=overconfident,
        test_ids=dataset.ids("test"), test_probs=test_probs, config={}, seed=0,
    )  # fmt: skip
    temperature = run.metrics["temperature"]
    assert temperature == pytest.approx(fit_temperature(labels, overconfident, classes)) and temperature > 2
    np.testing.assert_allclose(run.test_probs, scale(test_probs, temperature), atol=1e-12)
    assert (run.val_probs.argmax(axis=1) == overconfident.argmax(axis=1)).all()
    recomputed = log_loss(labels, run.val_probs[:, np.argsort(classes)], labels=sorted(classes))
    assert run.metrics["val_log_loss"] == pytest.approx(recomputed, abs=1e-9)
    assert run.metrics["val_log_loss"] < run.metrics["val_log_loss_uncalibrated"]
    assert not np.allclose(run.val_probs, scale(overconfident, temperature))  # cross-fitted: not the temperature fitted on these very rows

    uniform = np.full_like(honest, 1 / len(classes))
    kept = make_run(
        approach="uniform", model="m", classes=classes, split=split, val_probs=uniform,
        test_ids=dataset.ids("test"), test_probs=test_probs, config={}, seed=0,
    )  # fmt: skip
    assert kept.metrics["temperature"] == 1.0 and np.array_equal(kept.test_probs, test_probs)


def test_kaggles_metric_names_map_to_the_kits_by_their_words_and_the_classes() -> None:
    from cornkit.metric_names import metric_from_kaggle

    two, four = ["0", "1"], ["a", "b", "c", "d"]
    assert metric_from_kaggle("Area Under Receiver Operating Characteristic Curve", two) == "roc_auc"
    assert metric_from_kaggle("Area Under Receiver Operating Characteristic Curve", four) == "roc_auc_ovr"  # Kaggle's AUC on many classes
    assert metric_from_kaggle("Multi-Class Log-Loss", four) == "log_loss"  # case and punctuation do not matter
    assert metric_from_kaggle("Categorization Accuracy", four) == "accuracy"
    assert metric_from_kaggle("Quadratic Weighted Kappa", ["1", "2", "3"]) == "quadratic_kappa"
    assert metric_from_kaggle("Mean Average Precision @ 5", four) is None
    assert all(name in METRIC_NAMES for name in {metric_from_kaggle(k, four) for k in ("Macro F1", "Balanced Accuracy", "AUC")})
