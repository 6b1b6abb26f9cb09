"""The fastai ConvNeXt baseline: a Run that learns, submits, repeats itself and fails helpfully.

Everything runs offline on the CPU: a random-weight ``convnext_atto`` at 64 pixels on a small
synthetic corn set.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import timm
import torch
from fastai.callback.core import Callback
from sklearn.metrics import log_loss as sklearn_log_loss

from cornkit.cli import main
from cornkit.data.dataset import Dataset, load_dataset
from cornkit.data.split import Split, make_split
from cornkit.data.synth import make_synthetic_corn
from cornkit.errors import CornkitError
from cornkit.heads.convnext import APPROACH, ConvnextParams
from cornkit.kaggle.submission import write_submission
from cornkit.locks import LOCK_DIR
from cornkit.params import build
from cornkit.runs.run import Run, load_run
from cornkit.train import learner as learner_module
from cornkit.train.data import class_weights, mark_monitor_rows
from cornkit.train.finetune import train_finetune
from cornkit.train.saved_network import run_fold_learner

pytestmark = pytest.mark.slow  # every test here trains a ConvNeXt (or checks one before training)

TINY = {"arch": "convnext_atto", "pretrained": "none", "size": 64, "batch_size": 16, "lr": 2e-3}
LEARNS = {**TINY, "epochs": 10}  # measured 2026-11-26 (torch 2.14.1, fastai head): 0.625 validation accuracy against a 0.40 majority class
QUICK = {**TINY, "epochs": 1, "tta": False}
TINY_FLAGS = ["--arch", "convnext_atto", "--pretrained", "none", "--size", "64", "--batch-size", "16", "--lr", "2e-3"]


def train_convnext(dataset: Dataset, split: Split, work: Path, cbs=(), **values) -> Run:
    """``cornkit convnext`` from Python, with extra fastai callbacks: the preset's settings, trained."""
    return train_finetune(dataset, split, work, build(ConvnextParams, **values).settings(), approach=APPROACH, cbs=cbs)


@pytest.fixture(scope="session")
def corn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic corn set, made once for the session."""
    return make_synthetic_corn(tmp_path_factory.mktemp("corn"), n_train=240, n_test=40, seed=0).root


@pytest.fixture(scope="module")
def dataset(corn: Path) -> Dataset:
    return load_dataset(corn)


@pytest.fixture(scope="module")
def holdout(dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> tuple[Split, Path]:
    work = tmp_path_factory.mktemp("work")
    return make_split(dataset, work), work


@pytest.fixture(scope="module")
def trained(dataset, holdout):
    split, work = holdout
    return train_convnext(dataset, split, work, **LEARNS)


class RecordMonitorRows(Callback):
    """Notes which rows fastai validates on (and so picks the best epoch on)."""

    def __init__(self) -> None:
        self.ids: set[int] = set()

    def before_fit(self) -> None:
        self.ids = set(self.dls.valid_ds.items["id"])


class Interrupt(Callback):
    """Raises ``error`` after the first training batch, as a Ctrl-C or a full GPU would."""

    def __init__(self, error: BaseException):
        self.error = error

    def after_batch(self) -> None:
        if self.training:
            raise self.error


def test_run_learns_and_submits(trained, dataset, holdout, tmp_path):
    split, _ = holdout
    majority = split.frame.loc[split.frame["fold"] == 0, "label"].value_counts(normalize=True).max()
    assert trained.metrics["val_accuracy"] >= majority + 0.1
    assert list(trained.val["seed_id"]) == list(split.valid_ids(0))
    assert trained.config["split_id"] == split.split_id
    np.testing.assert_allclose(trained.test_probs.sum(axis=1), 1, atol=1e-5)
    submission = write_submission(trained, dataset, tmp_path)
    assert submission.created and submission.path.is_file()


def test_exported_learner_predicts_the_run_classes(trained, dataset):
    first = pd.DataFrame({"id": dataset.ids("test")[:1], "path": [str(dataset.image_paths("test")[0])]})
    learn = run_fold_learner(trained.path, 0, first)
    label, _, probs = learn.predict(str(dataset.image_paths("test")[0]))
    assert list(learn.dls.vocab) == list(dataset.classes)
    assert label in dataset.classes and probs.shape == (len(dataset.classes),)


def test_the_cli_repeats_a_python_run_with_the_same_seed(dataset, corn, holdout, capsys):
    split, work = holdout
    first = train_convnext(dataset, split, work, **QUICK)
    assert main(["convnext", "--data", str(corn), "--work", str(work), *TINY_FLAGS, "--epochs", "1", "--no-tta"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == first.run_id
    np.testing.assert_allclose(load_run(first.run_id, work).val_probs, first.val_probs, atol=1e-6)


def test_interrupted_training_keeps_the_saved_run(trained, dataset, holdout):
    split, work = holdout
    before = {p.name: p.read_bytes() for p in trained.path.iterdir()}
    with pytest.raises(KeyboardInterrupt):
        train_convnext(dataset, split, work, **LEARNS, cbs=[Interrupt(KeyboardInterrupt())])
    assert {p.name: p.read_bytes() for p in trained.path.iterdir()} == before
    assert sorted(p.name for p in work.iterdir() if p.name != LOCK_DIR) == ["image-store", "runs", "split.csv", "split.json"]


def test_out_of_memory_suggests_a_smaller_batch(dataset, holdout):
    split, work = holdout
    full = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    with pytest.raises(CornkitError, match="--batch-size 8"):
        train_convnext(dataset, split, work, **QUICK, cbs=[Interrupt(full)])


def test_unknown_arch_lists_close_timm_names(dataset, holdout, corn, capsys):
    split, work = holdout
    with pytest.raises(CornkitError, match="convnext_tiny"):
        train_convnext(dataset, split, work, arch="convnext_tiyn")
    assert main(["convnext", "--data", str(corn), "--work", str(work), "--arch", "convnext_small.fb_in23k"]) == 2
    assert "convnext_small.fb_in22k" in capsys.readouterr().err


def test_hub_weights_offline_say_how_to_use_a_file(dataset, holdout):
    split, work = holdout
    with pytest.raises(CornkitError, match="--pretrained /path/to"):
        train_convnext(dataset, split, work, **{**QUICK, "pretrained": "hub"})


def test_local_checkpoint_file(dataset, holdout, tmp_path):
    split, work = holdout
    checkpoint = tmp_path / "convnext_atto.pth"
    torch.save(timm.create_model("convnext_atto").state_dict(), checkpoint)
    run = train_convnext(dataset, split, work, **{**QUICK, "pretrained": str(checkpoint)})
    assert run.config["pretrained"]["file"] == "convnext_atto.pth"
    not_a_checkpoint = tmp_path / "notes.pth"
    not_a_checkpoint.write_text("not weights")
    with pytest.raises(CornkitError, match=r"notes\.pth is not a checkpoint"):  # refused by the declaration, before any model is built
        train_convnext(dataset, split, work, **{**QUICK, "pretrained": str(not_a_checkpoint)})


class RecordTraining(Callback):
    """Notes the loss's class weights and the labels of every training batch."""

    def before_fit(self) -> None:
        self.weight = self.learn.loss_func.weight
        self.labels: list[int] = []

    def before_batch(self) -> None:
        if self.training:
            self.labels += self.y.tolist()


def test_balance_weights_the_loss_or_oversamples_rare_classes(dataset, holdout):
    split, work = holdout
    train_labels = pd.Series(split.labels_of(split.train_ids(0)))
    natural = train_labels.value_counts(normalize=True).reindex(list(dataset.classes)).to_numpy()
    rarest = int(np.argmin(natural))

    plain, weighted, oversampled = RecordTraining(), RecordTraining(), RecordTraining()
    train_convnext(dataset, split, work, cbs=[plain], **QUICK)
    train_convnext(dataset, split, work, cbs=[weighted], **QUICK, balance="weighted")
    train_convnext(dataset, split, work, cbs=[oversampled], **{**QUICK, "epochs": 3}, balance="oversample")
    assert plain.weight is None and oversampled.weight is None
    fit_labels = pd.Series(split.labels_of(split.train_ids(0))).loc[lambda s: s.index >= 0]  # the weights follow the rows that train
    assert weighted.weight is not None and int(weighted.weight.argmax()) == rarest
    assert weighted.weight.numpy() == pytest.approx(class_weights(fit_labels, dataset.classes), rel=0.35)  # the monitor rows are held out of the count
    drawn = np.bincount(oversampled.labels, minlength=len(dataset.classes)) / len(oversampled.labels)
    assert drawn[rarest] > 1.5 * natural[rarest]  # measured: the rarest class drawn about 1/4 of the time instead of ~1/10


def test_kfold_is_out_of_fold_with_averaged_test(dataset, tmp_path):
    split = make_split(dataset, tmp_path, folds=2)
    both = train_convnext(dataset, split, tmp_path, **QUICK)
    assert sorted(both.val["seed_id"]) == sorted(split.frame["seed_id"])
    folds = [train_convnext(dataset, split, tmp_path, **QUICK, fold=k) for k in range(2)]
    by_id = both.val.set_index("seed_id")[list(both.classes)]
    for fold_run in folds:
        np.testing.assert_allclose(by_id.loc[fold_run.val["seed_id"]].to_numpy(), fold_run.val_probs, atol=1e-6)
    np.testing.assert_allclose(both.test_probs, (folds[0].test_probs + folds[1].test_probs) / 2, atol=1e-6)
    assert sorted(p.name for p in both.path.glob("network-*.safetensors")) == ["network-fold0.safetensors", "network-fold1.safetensors"]


def test_the_learning_rate_is_fastais_suggestion_when_not_given_and_never_searched_when_given(dataset, holdout, monkeypatch):
    split, work = holdout
    searched: list[object] = []

    def suggestion(learn) -> float:
        searched.append(learn)
        return 0.0123

    monkeypatch.setattr(learner_module, "find_lr", suggestion)
    run = train_convnext(dataset, split, work, **{**QUICK, "lr": None})
    assert len(searched) == 1 and run.config["lr"] is None and run.metrics["lr"] == [0.0123]
    given = train_convnext(dataset, split, work, **QUICK)
    assert len(searched) == 1 and given.metrics["lr"] == [2e-3]


def test_the_best_epoch_is_chosen_on_training_rows_never_on_validation_rows(dataset, holdout):
    """Picking the epoch on the rows the Run is scored on would flatter its validation accuracy."""
    split, work = holdout
    seen = RecordMonitorRows()
    run = train_convnext(dataset, split, work, **QUICK, cbs=[seen])
    assert seen.ids and seen.ids <= set(split.train_ids(0))
    assert len(seen.ids) == round(0.1 * len(split.train_ids(0)))
    assert run.config["monitor_frac"] == 0.1
    # the kept model is the best epoch's: its accuracy on the monitor rows is the recorded monitor accuracy
    train = dataset.train.set_index("seed_id")
    rows = pd.DataFrame({"id": sorted(seen.ids), "path": [str(dataset.root / train.loc[i, "image"]) for i in sorted(seen.ids)]})
    learn = run_fold_learner(run.path, 0, rows)
    probs, _ = learn.get_preds(dl=learn.dls.test_dl(rows))
    truth = [train.loc[i, "label"] for i in sorted(seen.ids)]
    accuracy = float((np.asarray(learn.dls.vocab)[probs.argmax(dim=1).numpy()] == np.asarray(truth)).mean())
    assert accuracy == pytest.approx(run.metrics["monitor_accuracy"][0], abs=1e-6)


class RecordEpochScores(Callback):
    """Notes every epoch's monitor scores as fastai's recorder holds them (it runs after the recorder)."""

    order = 70

    def __init__(self) -> None:
        self.scores: list[dict[str, float]] = []

    def after_epoch(self) -> None:
        names = self.learn.recorder.metric_names[1:-1]
        self.scores.append(dict(zip(names, self.learn.recorder.values[-1], strict=True)))


def test_under_log_loss_the_kept_epoch_is_the_one_with_the_lowest_monitor_log_loss(dataset, tmp_path):
    """The epoch and the early stop follow the split's metric in its direction: the lowest log loss, not the highest."""
    split = make_split(dataset, tmp_path, metric="log_loss")
    seen, epochs = RecordMonitorRows(), RecordEpochScores()
    run = train_convnext(dataset, split, tmp_path, **{**QUICK, "epochs": 4}, cbs=[seen, epochs])
    per_epoch = [e["log_loss"] for e in epochs.scores]
    assert len(per_epoch) == 4 and len(set(np.round(per_epoch, 6))) > 1
    kept = run.metrics["monitor_log_loss"][0]
    assert kept == pytest.approx(min(per_epoch), abs=1e-6) and "monitor_accuracy" not in run.metrics
    train = dataset.train.set_index("seed_id")
    rows = pd.DataFrame({"id": sorted(seen.ids), "path": [str(dataset.root / train.loc[i, "image"]) for i in sorted(seen.ids)]})
    learn = run_fold_learner(run.path, 0, rows)
    probs, _ = learn.get_preds(dl=learn.dls.test_dl(rows))
    truth = [str(train.loc[i, "label"]) for i in sorted(seen.ids)]
    assert sklearn_log_loss(truth, probs.numpy(), labels=list(learn.dls.vocab)) == pytest.approx(kept, abs=1e-5)


def test_without_monitor_rows_every_training_row_trains_and_the_last_epoch_is_kept(dataset, holdout):
    split, work = holdout
    seen = RecordMonitorRows()
    run = train_convnext(dataset, split, work, **QUICK, monitor_frac=0, cbs=[seen])
    assert not seen.ids and run.metrics["monitor_accuracy"] == [None]
    with pytest.raises(CornkitError, match="--patience needs monitor rows"):
        train_convnext(dataset, split, work, **QUICK, monitor_frac=0, patience=2)


class RecordFit(Callback):
    """Notes whether training started."""

    started = False

    def before_fit(self) -> None:
        self.started = True


def test_a_truncated_test_image_fails_before_training_starts(corn, tmp_path):
    """Test images are first read after training: a broken one must not cost the whole training."""
    data = Path(shutil.copytree(corn, tmp_path / "corn"))
    dataset = load_dataset(data)
    broken = dataset.image_paths("test")[3]
    broken.write_bytes(broken.read_bytes()[:200])
    fit = RecordFit()
    with pytest.raises(CornkitError, match=f"{broken.name}.*re-download"):
        train_convnext(dataset, make_split(dataset, tmp_path / "work"), tmp_path / "work", **QUICK, cbs=[fit])
    assert not fit.started


def test_a_truncated_image_is_named_without_a_traceback(corn, tmp_path, capsys):
    data = Path(shutil.copytree(corn, tmp_path / "corn"))
    dataset = load_dataset(data)
    broken = dataset.image_paths("train")[5]
    broken.write_bytes(broken.read_bytes()[:200])
    work = tmp_path / "work"
    assert main(["split", "--data", str(data), "--work", str(work)]) == 0
    capsys.readouterr()
    assert main(["convnext", "--data", str(data), "--work", str(work), *TINY_FLAGS, "--epochs", "1", "--no-tta"]) == 2
    err = capsys.readouterr().err
    assert broken.name in err and "re-download" in err and "Traceback" not in err
    assert not (work / "runs").exists()


def test_too_few_training_rows_for_monitor_rows_says_what_to_do():
    rows = pd.DataFrame({"id": range(6), "path": "x.png", "label": ["a", "a", "b", "b", "c", "d"]})
    with pytest.raises(CornkitError, match=r"class 'c': 1.*--monitor-frac 0"):
        mark_monitor_rows(rows, 0.1, seed=0)
    assert not mark_monitor_rows(rows, 0.0, seed=0)["is_valid"].any()
