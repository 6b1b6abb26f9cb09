"""The few-shot curve: k rows per class drawn from training rows only, scored on the same validation rows for every k."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cornkit.cli import main
from cornkit.clip.model import ClipSpec
from cornkit.errors import CornkitError
from cornkit.heads.on_features import FeatureHeadParams, FeatureTask, Fitted
from cornkit.params import param
from cornkit.reports.shots import ShotData, draw_shots, few_shot_table, shots_report

CLASSES = ("a", "b", "c")
CLIP = ["--model", "cornkit-tiny-clip", "--pretrained", "none", "--workers", "0"]


@pytest.fixture
def data() -> ShotData:
    rng = np.random.default_rng(0)
    train_labels = np.repeat([0, 1, 2], [30, 20, 6])
    val_labels = np.repeat([0, 1, 2], [10, 8, 4])
    centres = rng.normal(size=(3, 8))
    return ShotData(
        train_features=centres[train_labels] + rng.normal(0, 0.5, (len(train_labels), 8)),
        train_labels=train_labels,
        val_features=centres[val_labels] + rng.normal(0, 0.5, (len(val_labels), 8)),
        val_labels=val_labels,
        classes=CLASSES,
    )


class NearestMean:
    """The fitted spy: nearest class mean, recording the rows it is asked to predict."""

    def __init__(self, means: np.ndarray, predicted: list[np.ndarray]) -> None:
        self.means, self.predicted = means, predicted

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        self.predicted.append(features)
        scores = -((features[:, None, :] - self.means[None]) ** 2).sum(axis=2)
        return np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)


class Spy:
    """A nearest-class-mean head that records every task it is given and every row its models predict."""

    def __init__(self, refuse_below: int = 0) -> None:
        self.tasks: list[FeatureTask] = []
        self.predicted: list[np.ndarray] = []
        self.refuse_below = refuse_below

    def __call__(self, task: FeatureTask) -> Fitted:
        if len(task.train_labels) < self.refuse_below * task.n_classes:
            raise CornkitError("too few rows for this head")
        self.tasks.append(task)
        means = np.stack([task.train_features[task.train_labels == k].mean(axis=0) for k in range(task.n_classes)])
        return Fitted(NearestMean(means, self.predicted))


@dataclass(frozen=True, kw_only=True)
class NearestParams(FeatureHeadParams):
    unused: int = param(3, "a parameter of the plugin head's own")


def _no_zeroshot():
    raise AssertionError("the spy never asks for zero-shot")


def test_every_k_is_scored_on_the_same_full_validation_rows(data: ShotData) -> None:
    spy = Spy()
    table, skipped = few_shot_table(data, {"spy": spy}, (1, 2, 4, "all"), 3, 42, _no_zeroshot)
    assert len(spy.tasks) == 3 * 3 + 1  # "all" once: every repeat would draw the same rows
    assert len(spy.predicted) == len(spy.tasks)
    for task, predicted in zip(spy.tasks, spy.predicted, strict=True):
        np.testing.assert_array_equal(predicted, data.val_features)
        assert not (task.train_features[:, None, :] == data.val_features[None]).all(axis=2).any()  # no validation row among the shots
    assert set(table["n_val"]) == {len(data.val_labels)}
    assert skipped == []
    for task, (k, _) in zip(spy.tasks, [(k, r) for k in (1, 2, 4) for r in range(3)], strict=False):
        assert np.bincount(task.train_labels).tolist() == [k, k, k]
    assert len(spy.tasks[-1].train_labels) == len(data.train_labels)
    assert table[["shots", "repeat", "n_train"]].values.tolist()[:2] == [["1", 0, 3], ["1", 1, 3]]


def test_seeded_draws_repeat_exactly_and_repeats_differ(data: ShotData) -> None:
    first, second = Spy(), Spy()
    table_1, _ = few_shot_table(data, {"spy": first}, (2, 4), 3, 7, _no_zeroshot)
    table_2, _ = few_shot_table(data, {"spy": second}, (2, 4), 3, 7, _no_zeroshot)
    pd.testing.assert_frame_equal(table_1, table_2)
    for a, b in zip(first.tasks, second.tasks, strict=True):
        np.testing.assert_array_equal(a.train_features, b.train_features)
    draws = [tuple(draw_shots(data.train_labels, 4, 7, repeat)) for repeat in range(3)]
    assert len(set(draws)) == 3
    assert tuple(draw_shots(data.train_labels, 4, 8, 0)) != draws[0]


def test_counts_above_the_rarest_class_and_failing_heads_are_skipped_and_said(data: ShotData) -> None:
    table, skipped = few_shot_table(data, {"spy": Spy(refuse_below=4)}, (2, 4, 8, "all"), 2, 42, _no_zeroshot)
    assert "8 shots: class 'c' has only 6 training rows" in skipped
    assert "spy at 2 shots: too few rows for this head" in skipped
    assert sorted(set(table["shots"])) == ["4", "all"]
    with pytest.raises(CornkitError, match="every count exceeds the 6 training rows of class 'c'"):
        few_shot_table(data, {"spy": Spy()}, (7, 8), 2, 42, _no_zeroshot)


@pytest.mark.slow
def test_report_writes_csv_png_and_answer_and_repeats_itself(clip_work) -> None:
    dataset, split, work, _ = clip_work
    options = {"heads": ["probe"], "shots": (2, 4, "all"), "repeats": 2, "head_params": {"probe": {"cv_folds": 2, "cs": "0.1,10"}}, "workers": 0}
    report = shots_report(dataset, split, work, ClipSpec("cornkit-tiny-clip", "none"), **options)
    table = pd.read_csv(report.csv_path)
    assert list(table.columns) == ["head", "shots", "repeat", "n_train", "n_val", "val_accuracy"]
    assert set(table["n_val"]) == {len(split.valid_ids())}
    assert table[table["head"] == "zeroshot"][["shots", "n_train"]].values.tolist() == [["0", 0]]
    assert table[table["head"] == "probe"]["shots"].tolist() == ["2", "2", "4", "4", "all"]
    assert report.png_path.stat().st_size > 0
    assert report.answer.startswith("labels per class to beat zero-shot")
    again = shots_report(dataset, split, work, ClipSpec("cornkit-tiny-clip", "none"), **options)
    assert again.folder == report.folder
    pd.testing.assert_frame_equal(pd.read_csv(again.csv_path), table)


@pytest.mark.slow
def test_any_registered_features_head_is_in_the_default_curve(clip_work, monkeypatch: pytest.MonkeyPatch) -> None:
    """A head added by a plugin (here: nearest class mean) joins without shots naming it."""
    from cornkit.cli import heads as cli_heads
    from cornkit.heads import registry
    from cornkit.reports import shots as shots_module

    spy = Spy()
    extra = registry.Head(name="nearest", help="nearest class mean", params=NearestParams, fit=lambda task, params: spy(task))
    heads = {**registry.all_heads(), "nearest": extra}
    for module in (registry, cli_heads, shots_module):
        monkeypatch.setattr(module, "all_heads", lambda: heads)
    dataset, split, work, _ = clip_work
    report = shots_report(dataset, split, work, ClipSpec("cornkit-tiny-clip", "none"), shots=(8,), repeats=1, head_params={"probe": {"cv_folds": 2}}, workers=0)
    assert {"zeroshot", "probe", "nearest"} <= set(report.table["head"])
    assert "convnext" not in set(report.table["head"])
    assert len(spy.tasks) == 1 and "nearest" in report.answer


def test_cli_refuses_bad_shots_and_image_heads(clip_work, capsys: pytest.CaptureFixture[str]) -> None:
    dataset, _, work, _ = clip_work
    common = ["shots", "--data", str(dataset.root), "--work", str(work), *CLIP]
    with pytest.raises(SystemExit):
        main([*common, "--shots", "0,2"])
    assert "argument --shots" in capsys.readouterr().err
    assert main([*common, "--heads", "convnext"]) == 2
    assert "convnext is not a head on CLIP features" in capsys.readouterr().err
    assert main([*common, "--heads", "probe", "--head-flags", "probe=--no-such-flag"]) == 2
    assert "--head-flags probe: unrecognized arguments: --no-such-flag" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_prints_the_answer_then_the_folder(clip_work, capsys: pytest.CaptureFixture[str]) -> None:
    dataset, _, work, _ = clip_work
    argv = ["shots", "--data", str(dataset.root), "--work", str(work), *CLIP, "--heads", "probe", "--shots", "4,all", "--repeats", "1"]
    assert main([*argv, "--head-flags", "probe=--cv-folds 2 --cs 1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-2].startswith("labels per class to beat zero-shot")
    assert Path(lines[-1]).parent == Path(work) / "reports" and (Path(lines[-1]) / "shots.png").is_file()
