"""The validation split: stratified, reproducible to the byte, never silently replaced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cornkit.data.dataset import load_dataset
from cornkit.data.split import load_split, make_split
from cornkit.errors import CornkitError


def test_same_request_gives_the_same_file_byte_for_byte(corn_dir: Path, tmp_path: Path) -> None:
    dataset = load_dataset(corn_dir, check_images=False)
    make_split(dataset, tmp_path / "a")
    make_split(dataset, tmp_path / "b")
    first = (tmp_path / "a" / "split.csv").read_bytes()
    assert first == (tmp_path / "b" / "split.csv").read_bytes()
    make_split(dataset, tmp_path / "a")
    assert (tmp_path / "a" / "split.csv").read_bytes() == first


def test_holdout_is_stratified_and_disjoint(corn_dir: Path, tmp_path: Path) -> None:
    dataset = load_dataset(corn_dir, check_images=False)
    split = make_split(dataset, tmp_path, valid_frac=0.25)
    valid, train = set(split.valid_ids()), set(split.train_ids())
    assert not valid & train and valid | train == set(dataset.ids("train"))
    assert len(valid) == pytest.approx(0.25 * len(dataset.train), abs=1)
    overall = dataset.train["label"].value_counts(normalize=True)
    in_valid = split.frame[split.frame.fold == 0]["label"].value_counts(normalize=True)
    assert (in_valid - overall).abs().max() < 0.05


def test_kfold_puts_every_row_in_exactly_one_validation_fold(corn_dir: Path, tmp_path: Path) -> None:
    dataset = load_dataset(corn_dir, check_images=False)
    split = make_split(dataset, tmp_path, folds=4, seed=3)
    assert split.n_folds == 4
    seen = [i for fold in range(4) for i in split.valid_ids(fold)]
    assert sorted(seen) == sorted(dataset.ids("train"))
    assert set(split.evaluation_ids()) == set(dataset.ids("train"))
    with pytest.raises(CornkitError, match=r"folds 0\.\.3"):
        split.valid_ids(4)


def test_a_different_split_is_refused_unless_forced(corn_dir: Path, tmp_path: Path) -> None:
    dataset = load_dataset(corn_dir, check_images=False)
    original = make_split(dataset, tmp_path)
    with pytest.raises(CornkitError, match=r"already holds a different split \(.*seed: saved 42, asked 1.*--force"):
        make_split(dataset, tmp_path, seed=1)
    assert load_split(tmp_path).split_id == original.split_id
    assert make_split(dataset, tmp_path, seed=1, force=True).split_id != original.split_id


def test_split_of_other_data_is_detected(corn_dir: Path, corn_copy: Path, tmp_path: Path) -> None:
    make_split(load_dataset(corn_dir, check_images=False), tmp_path)
    (corn_copy / "test.csv").write_text((corn_copy / "test.csv").read_text().replace("bottom", "top"))
    with pytest.raises(CornkitError, match="made from other data"):
        load_split(tmp_path, load_dataset(corn_copy, check_images=False))


def test_missing_split_says_which_command_makes_it(tmp_path: Path) -> None:
    with pytest.raises(CornkitError, match="run `cornkit split"):
        load_split(tmp_path)


def test_a_split_write_cut_short_between_its_two_files_is_caught(corn_dir: Path, tmp_path: Path) -> None:
    """A forced re-split that died after split.csv but before split.json must not pass as the old split."""
    dataset = load_dataset(corn_dir, check_images=False)
    make_split(dataset, tmp_path / "old")
    make_split(dataset, tmp_path / "new", seed=1)
    (tmp_path / "old" / "split.csv").write_bytes((tmp_path / "new" / "split.csv").read_bytes())
    with pytest.raises(CornkitError, match=r"do not belong together.*--force"):
        make_split(dataset, tmp_path / "old")
    assert make_split(dataset, tmp_path / "old", force=True).params["seed"] == 42


def test_a_split_json_from_before_the_hash_was_recorded_still_loads(corn_dir: Path, tmp_path: Path) -> None:
    dataset = load_dataset(corn_dir, check_images=False)
    made = make_split(dataset, tmp_path)
    old_style = {k: v for k, v in json.loads((tmp_path / "split.json").read_text()).items() if k != "split_id"}
    (tmp_path / "split.json").write_text(json.dumps(old_style))
    assert load_split(tmp_path, dataset).split_id == made.split_id
    assert make_split(dataset, tmp_path).split_id == made.split_id
