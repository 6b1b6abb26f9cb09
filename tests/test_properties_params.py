"""Properties of parameters: any text is a checked value or one error naming the flag, the command line and Python agree,
and values impossible for the data (fold counts, batch sizes) are refused or adjusted with a line that says so."""

from __future__ import annotations

import argparse
import contextlib
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cornkit import params
from cornkit.data.split import _assign_folds
from cornkit.errors import CornkitError
from cornkit.heads.probe import ProbeParams, fit_probe
from cornkit.heads.tip import TipParams
from cornkit.params import ParamError
from cornkit.train.folds import check_batch_fits
from cornkit.train.settings import FinetuneSettings

FIELDS = {
    ProbeParams: ("cs", "cv_folds", "alpha", "class_weight", "init", "seed"),
    TipParams: ("alpha", "beta", "epochs", "lr", "augment_views"),
    FinetuneSettings: ("epochs", "lr", "warmup", "monitor_frac", "ema", "wise", "balance", "mix_prob", "size"),
}
REQUIRED = {ProbeParams: {"model": "m", "pretrained": "none"}, TipParams: {"model": "m", "pretrained": "none"}, FinetuneSettings: {}}
TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["auto", "AUTO", "nan", "inf", "-inf", "1e400", "0", "-0", "1", "2", "0.5", "1.5", "-1", "3,4", "0.1,,1", "balanced", "zeroshot"]),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(-10, 10**6).map(str),
)


def _parser(cls: type) -> argparse.ArgumentParser:
    class Raising(argparse.ArgumentParser):
        def error(self, message: str):  # type: ignore[override]
            raise ValueError(message)

    parser = Raising(add_help=False)
    params.add_arguments(parser, cls)
    return parser


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cls=st.sampled_from(list(FIELDS)), data=st.data(), text=TEXT)
def test_any_text_is_a_checked_value_or_one_error_naming_the_parameter_and_the_cli_agrees(cls: type, data: st.DataObject, text: str) -> None:
    name = data.draw(st.sampled_from(FIELDS[cls]))
    declared = {p.name: p for p in params.parameters(cls)}[name]
    try:
        built = params.build(cls, **REQUIRED[cls], **{name: text})
    except ParamError as error:
        message = str(error)
        assert message.startswith(f"{declared.flag} ({name}=") and "\n" not in message
        with pytest.raises(ValueError):
            _parser(cls).parse_args([*params.to_argv(cls, REQUIRED[cls]), f"{declared.flag}={text}"])
        return
    value = getattr(built, name)
    assert declared.reason(value) is None  # what was accepted satisfies its own declaration
    parsed = _parser(cls).parse_args([*params.to_argv(cls, REQUIRED[cls]), f"{declared.flag}={text}"])
    assert getattr(parsed, name) == value  # the command line reads the same text as the same value
    assert params.build(cls, **REQUIRED[cls], **{name: value}) == built  # and a built value goes through unchanged


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(1, 9), min_size=2, max_size=5), folds=st.integers(2, 12), seed=st.integers(0, 2**32 - 1))
def test_a_k_fold_split_is_refused_in_one_line_exactly_when_a_class_has_fewer_rows_than_folds(counts: list[int], folds: int, seed: int) -> None:
    labels = pd.Series([f"c{k}" for k, n in enumerate(counts) for _ in range(n)])
    if min(counts) < folds:
        with pytest.raises(CornkitError, match=rf"--folds {folds}: class 'c\d+' has {min(counts)} row\(s\).*give --folds"):
            _assign_folds(labels, 0.2, folds, seed)
        return
    assigned = _assign_folds(labels, 0.2, folds, seed)
    for fold in range(folds):
        assert set(labels[assigned == fold]) == set(labels)  # every fold validates on every class


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(counts=st.lists(st.integers(1, 6), min_size=2, max_size=4), cv_folds=st.integers(2, 8))
def test_the_probe_adjusts_cv_folds_to_the_rarest_class_and_says_so(counts: list[int], cv_folds: int) -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(len(counts)), counts)
    features = rng.normal(size=(len(labels), 6)) + np.eye(len(counts), 6)[labels]
    with contextlib.redirect_stderr(io.StringIO()) as stderr:
        fit = fit_probe(features, labels, cs=(1.0,), cv_folds=cv_folds, seed=0)
    expected = 0 if min(counts) < 2 else min(cv_folds, min(counts))
    assert fit.cv_folds == expected
    said = stderr.getvalue()
    assert ("cv_folds=" in said) == (0 < expected < cv_folds)


@given(n_train=st.integers(0, 300), batch=st.integers(1, 128), accum=st.integers(1, 8))
def test_a_batch_the_training_rows_cannot_fill_is_refused_naming_the_flag(n_train: int, batch: int, accum: int) -> None:
    settings_ = FinetuneSettings(batch_size=batch, accum=accum)
    if batch * accum > n_train:
        with pytest.raises(CornkitError, match=rf"--batch-size {batch} \(batch_size\)"):
            check_batch_fits(settings_, n_train, fold=0)
    else:
        check_batch_fits(settings_, n_train, fold=0)
