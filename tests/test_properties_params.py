"""Properties of parameters: any text is a checked value or one error naming the flag, the command line and Python agree,
and values impossible for the data (fold counts, batch sizes) are refused or adjusted with a line that says so."""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import typing
from pathlib import Path

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


def _declared_range_holds(declared: params.Parameter, value: object) -> bool:
    """An oracle apart from the validator: the accepted value has the declared type and lies in the declared range or choices."""
    c = declared.constraint
    if value is None:
        return declared.optional
    if value == params.AUTO:
        return c.auto
    item_kind = typing.get_args(declared.kind)[0] if typing.get_origin(declared.kind) is tuple else declared.kind
    items = value if isinstance(value, tuple) else (value,)
    for item in items:
        if type(item) is not item_kind:
            return False
        if c.choices is not None:
            if item not in c.choices:
                return False
            continue
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            if not math.isfinite(item):
                return False
            if c.low is not None and (item < c.low or (c.low_open and item == c.low)):
                return False
            if c.high is not None and (item > c.high or (c.high_open and item == c.high)):
                return False
    return True


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
    assert _declared_range_holds(declared, value), f"{text!r} was accepted as {value!r}, outside what {declared.flag} declares"
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


@pytest.mark.parametrize(
    ("values", "flag", "why"),
    [
        ({"epochs": 5.5}, "--epochs", "is not a whole number"),
        ({"lr": "fast"}, "--lr", "is not a number"),
        ({"tta": "no"}, "--no-tta", "is not true or false"),  # a truthy string would have left TTA on
        ({"batch_size": True}, "--batch-size", "is not a whole number"),
        ({"mixup": "0.2"}, "--mixup", "is not a number"),
        ({"backbone": 3}, "--backbone", "is not text"),
    ],
)
def test_python_values_of_the_wrong_type_are_refused_naming_the_flag(values: dict, flag: str, why: str) -> None:
    with pytest.raises(ParamError, match=rf"^{flag} \({next(iter(values))}=.*{why}"):
        FinetuneSettings(**values)


def test_python_values_of_the_declared_type_are_kept_as_given() -> None:
    settings_ = FinetuneSettings(epochs=3, lr=1e-3, tta=False, wise="auto", prompts=Path("p.toml"))
    assert (settings_.epochs, settings_.lr, settings_.tta, settings_.wise, settings_.prompts) == (3, 1e-3, False, "auto", Path("p.toml"))
    assert FinetuneSettings(prompts="p.toml").prompts == Path("p.toml"), "a path may be given as text, as on the command line"


@pytest.mark.parametrize(("cls", "argv"), [(FinetuneSettings, ["--backb", "timm:resnet18"]), (ProbeParams, ["--cv-f", "3"])])
def test_flags_derived_from_the_declarations_refuse_abbreviations(cls: type, argv: list[str]) -> None:
    with pytest.raises(ParamError, match="unrecognized arguments"):
        params.parse_argv(cls, argv, prog="cornkit head")


def test_the_command_line_refuses_an_abbreviated_flag(corn_dir, tmp_path, capsys) -> None:
    from cornkit.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["split", "--data", str(corn_dir), "--work", str(tmp_path / "work"), "--valid-fr", "0.2"])
    assert stopped.value.code == 2 and "unrecognized arguments: --valid-fr 0.2" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()


def test_a_parameter_that_several_heads_share_is_declared_once() -> None:
    from cornkit.clip.params import ClipParams, PromptParams
    from cornkit.heads.predict import PredictParams

    def declared(cls: type, name: str) -> params.Parameter:
        return {p.name: p for p in params.parameters(cls)}[name]

    assert declared(FinetuneSettings, "device") == declared(ClipParams, "device") == declared(PredictParams, "device")
    assert declared(FinetuneSettings, "image_store") == declared(ClipParams, "image_store")
    assert declared(FinetuneSettings, "prompts") == declared(PromptParams, "prompts") and declared(PromptParams, "prompts").kind is Path
    assert declared(FinetuneSettings, "prompt_set") == declared(PromptParams, "prompt_set")
