"""Other competitions' folders read without flags: training rows, ids, images, labels and test rows, then a submission in their shape."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import log_loss

from conftest import cli, one_line_error
from cornkit.data.dataset import DataConfig, load_dataset
from cornkit.data.synth import CLASSES, make_synthetic_corn
from cornkit.data.synth_layouts import FOLDER_NAMES
from cornkit.errors import CornkitError
from cornkit.kaggle.submission import submission_frame
from cornkit.runs.run import load_run

CLIP = ["--model", "cornkit-tiny-clip", "--pretrained", "none", "--workers", "0"]


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One small synthetic set per layout of another competition's shape (read-only by convention)."""
    root = tmp_path_factory.mktemp("layouts")
    return {name: make_synthetic_corn(root / name, n_train=60, n_test=15, seed=3, layout=name).root for name in ("cassava", "dogbreed", "folders")}


EXPECTED_FINDINGS = {
    "cassava": [
        "training rows: 60 in train.csv",
        "id column: 'image_id' (text, e.g. ",
        "training images: the id as file name, under train_images/",
        "test images: the id as file name, under test_images/",
        "labels: column 'label', 4 classes: 0 ",
        "test rows: 15 from the ids of sample_submission.csv (there is no test.csv)",
        "submission: a label column 'label' holding the class",
    ],
    "dogbreed": [
        "training rows: 60 in labels.csv",
        "id column: 'id' (text, e.g. ",
        "training images: the id as file name plus '.png', under train/",
        "test images: the id as file name plus '.png', under test/",
        "labels: column 'breed', 4 classes: broken ",
        "test rows: 15 from the ids of sample_submission.csv (there is no test.csv)",
        "submission: one probability column per class (4, in the sample's order)",
    ],
    "folders": [
        "training rows: 60 images in 4 class folders under train/",
        "id column: 'file' (text, e.g. ",
        "training images: one folder per class under train/ (the id is the path inside it)",
        "test images: the id as file name, under test/",
        "labels: the class folder's name, 4 classes: broken ",
        "test rows: 15 from the ids of sample_submission.csv (there is no test.csv)",
        "submission: a label column 'label' holding the class",
    ],
}


@pytest.mark.parametrize("layout", sorted(EXPECTED_FINDINGS))
def test_cornkit_data_reads_each_layout_without_a_flag(layout: str, layouts: dict[str, Path], capsys) -> None:
    code, out, err = cli(capsys, "data", "--data", layouts[layout])
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == len(EXPECTED_FINDINGS[layout])
    for line, expected in zip(lines, EXPECTED_FINDINGS[layout], strict=True):
        assert line.startswith(expected), (line, expected)


def test_the_read_rows_name_the_files_the_layout_wrote(layouts: dict[str, Path]) -> None:
    cassava, dogbreed, folders = (load_dataset(layouts[name]) for name in ("cassava", "dogbreed", "folders"))
    assert cassava.classes == ("0", "1", "2", "3")  # integer labels kept as the CSV writes them
    assert all(p.parent.name == "train_images" and p.name == i for p, i in zip(cassava.image_paths("train"), cassava.ids("train"), strict=True))
    labels = pd.read_csv(layouts["dogbreed"] / "labels.csv", dtype=str)
    assert dogbreed.ids("train") == labels["id"].tolist() and len(dogbreed.ids("train")[0]) == 32
    assert [p.name for p in dogbreed.image_paths("test")] == [f"{i}.png" for i in dogbreed.ids("test")]
    assert set(folders.classes) == set(FOLDER_NAMES.values()) and "silk cut" in folders.classes  # a class folder with a space
    assert all(p.parent.name == label for p, label in zip(folders.image_paths("train"), folders.train["label"], strict=True))


def _split_probe_submit(data: Path, work: Path, capsys, *flags: object, metric: str = "accuracy") -> tuple[str, pd.DataFrame]:
    common = ["--data", data, "--work", work]
    code, _, err = cli(capsys, "split", *common, "--metric", metric, *flags)
    assert code == 0, err
    code, out, err = cli(capsys, "probe", *common, *CLIP, "--cs", "1,100", "--cv-folds", 3)
    assert code == 0, err
    run_id = out.strip().splitlines()[-1]
    code, out, err = cli(capsys, "submit", run_id, *common, "--submissions", work.parent / "subs")
    assert code == 0, err
    return run_id, pd.read_csv(out.strip().splitlines()[-1], dtype=str, keep_default_na=False)


@pytest.mark.parametrize("layout", ["cassava", "folders"])
def test_a_label_layout_submits_the_samples_ids_in_its_order_with_labels_as_the_training_rows_write_them(
    layout: str, layouts: dict[str, Path], tmp_path: Path, capsys
) -> None:
    data = layouts[layout]
    run_id, submitted = _split_probe_submit(data, tmp_path / "work", capsys)
    sample = pd.read_csv(data / "sample_submission.csv", dtype=str)
    assert list(submitted.columns) == list(sample.columns)
    id_column = sample.columns[0]
    assert submitted[id_column].tolist() == sample[id_column].tolist()
    run = load_run(run_id, tmp_path / "work")
    predicted = pd.Series(run.test_predictions(), index=run.test_ids)
    assert submitted["label"].tolist() == predicted.loc[submitted[id_column]].tolist()
    assert set(submitted["label"]) <= set(load_dataset(data).classes)


def test_the_dog_breed_layout_submits_one_probability_column_per_breed_scored_by_log_loss(layouts: dict[str, Path], tmp_path: Path, capsys) -> None:
    data = layouts["dogbreed"]
    run_id, submitted = _split_probe_submit(data, tmp_path / "work", capsys, metric="log_loss")
    sample = pd.read_csv(data / "sample_submission.csv", dtype=str)
    assert list(submitted.columns) == list(sample.columns) == ["id", *CLASSES]
    assert submitted["id"].tolist() == sample["id"].tolist()  # hex ids, verbatim
    values = submitted[sorted(CLASSES)].astype(float).to_numpy()
    np.testing.assert_allclose(values.sum(axis=1), 1, atol=1e-6)
    run = load_run(run_id, tmp_path / "work")
    assert "val_log_loss" in run.metrics
    solution = pd.read_csv(data / "solution.csv", dtype=str).set_index("id").loc[submitted["id"]]
    probs = run.test.set_index("id").loc[submitted["id"], sorted(CLASSES)].to_numpy()
    probs = np.maximum(probs, 1e-6)
    probs /= probs.sum(axis=1, keepdims=True)
    expected = log_loss(solution["label"], probs, labels=sorted(CLASSES))
    assert log_loss(solution["label"], values, labels=sorted(CLASSES)) == pytest.approx(expected, abs=1e-6)


def _renamed_corn(corn_dir: Path, tmp_path: Path) -> Path:
    """It's Corn with its columns named otherwise: ``id``, ``path``, ``target`` (and two candidate labels)."""
    data = Path(shutil.copytree(corn_dir, tmp_path / "renamed"))
    for name in ("train.csv", "test.csv", "sample_submission.csv"):
        frame = pd.read_csv(data / name, dtype=str)
        frame.rename(columns={"seed_id": "id", "image": "path", "label": "target"}).to_csv(data / name, index=False)
    return data


def test_the_flags_split_was_given_are_recorded_so_later_commands_need_only_data(corn_dir: Path, tmp_path: Path, capsys) -> None:
    data, work = _renamed_corn(corn_dir, tmp_path), tmp_path / "work"
    one_line_error(*cli(capsys, "split", "--data", data, "--work", work)[::2], "no image for the first train row", "--image-column")
    assert not (work / "split.json").exists()
    code, _, err = cli(capsys, "split", "--data", data, "--work", work, "--image-column", "path")
    assert code == 0, err
    assert json.loads((work / "split.json").read_text())["data"] == {"image_column": "path"}  # 'target': the one column test.csv lacks
    code, out, err = cli(capsys, "probe", "--data", data, "--work", work, *CLIP, "--cs", "1", "--cv-folds", 2)
    assert code == 0, err
    run = load_run(out.strip().splitlines()[-1], work)
    assert run.id_column == "id" and len(run.val) == (pd.read_csv(work / "split.csv")["fold"] == 0).sum()
    code, out, _ = cli(capsys, "data", "--data", data, "--work", work)
    assert "labels: column 'target'" in out and "training images: column 'path'" in out


def _folder(tmp_path: Path, train: pd.DataFrame, sample: pd.DataFrame, image_names: list[str], train_csv: str = "train.csv") -> Path:
    """A small competition folder: ``train_csv``, ``sample_submission.csv`` and one tiny PNG per name under ``images/``."""
    from PIL import Image

    data = tmp_path / "comp"
    (data / "images").mkdir(parents=True)
    for name in image_names:
        Image.new("RGB", (4, 4), (len(name) * 9 % 255, 10, 10)).save(data / "images" / name, format="PNG")
    train.to_csv(data / train_csv, index=False)
    sample.to_csv(data / "sample_submission.csv", index=False)
    return data


def test_one_hot_label_columns_become_the_classes(tmp_path: Path) -> None:
    train = pd.DataFrame({"id": ["a1", "b2", "c3", "d4"], "cat": [1, 0, 0, 1], "dog": [0, 1, 1, 0]})
    sample = pd.DataFrame({"id": ["e5", "f6"], "cat": 0.5, "dog": 0.5})
    data = _folder(tmp_path, train, sample, [f"{i}.png" for i in ["a1", "b2", "c3", "d4", "e5", "f6"]], train_csv="train_labels.csv")
    dataset = load_dataset(data)
    assert dataset.classes == ("cat", "dog") and dataset.train["label"].tolist() == ["cat", "dog", "dog", "cat"]
    assert dataset.layout is not None and dataset.layout.label_source == "one-hot columns, one per class (2)"
    assert dataset.image_paths("test")[0] == data / "images" / "e5.png"  # images/ shared by train and test


@pytest.mark.parametrize(
    ("labels", "needle"),
    [
        ({"label": ["cat", "dog", "cat dog", "dog"]}, "row 4, column 'label': 'cat dog' lists several labels; multi-label"),
        ({"cat": [1, 0, 1, 0], "dog": [0, 1, 1, 1]}, "row 4: one-hot columns ['cat', 'dog'] hold several 1s: multi-label"),
    ],
)
def test_a_multi_label_row_is_refused_in_one_line(labels: dict[str, list[object]], needle: str, tmp_path: Path) -> None:
    train = pd.DataFrame({"id": ["a1", "b2", "c3", "d4"], **labels})
    data = _folder(tmp_path, train, pd.DataFrame({"id": ["e5"], "label": ["cat"]}), ["a1.png", "b2.png", "c3.png", "d4.png", "e5.png"])
    with pytest.raises(CornkitError, match=re.escape(f"train.csv, {needle}")):
        load_dataset(data)


def test_class_names_with_spaces_in_a_label_column_are_one_class_each(tmp_path: Path) -> None:
    train = pd.DataFrame({"id": ["a1", "b2", "c3", "d4"], "label": ["silk cut", "pure", "silk cut", "pure"]})
    data = _folder(tmp_path, train, pd.DataFrame({"id": ["e5"], "label": ["pure"]}), ["a1.png", "b2.png", "c3.png", "d4.png", "e5.png"])
    assert load_dataset(data).classes == ("pure", "silk cut")


def test_several_candidate_training_csvs_are_refused_naming_the_flag_that_settles_it(tmp_path: Path) -> None:
    train = pd.DataFrame({"id": ["a1", "b2"], "label": ["x", "y"]})
    data = _folder(tmp_path, train, pd.DataFrame({"id": ["e5"], "label": ["x"]}), ["a1.png", "b2.png", "e5.png"], train_csv="labels.csv")
    train.to_csv(data / "extra_labels.csv", index=False)
    with pytest.raises(CornkitError, match=r"several CSV files could list the training rows \(extra_labels.csv, labels.csv\); name one with --train-csv"):
        load_dataset(data)
    assert load_dataset(data, DataConfig(train_csv="labels.csv")).classes == ("x", "y")


def test_images_that_cannot_be_found_are_refused_naming_the_row_and_the_flags(tmp_path: Path) -> None:
    train = pd.DataFrame({"id": ["a1", "b2"], "label": ["x", "y"]})
    data = _folder(tmp_path, train, pd.DataFrame({"id": ["e5"], "label": ["x"]}), ["e5.png"])
    with pytest.raises(CornkitError, match=r"no image for the first train row \(the id as file name 'a1'\).*--train-images DIR.*--image-column"):
        load_dataset(data)


def test_a_sample_id_without_its_test_image_is_named(tmp_path: Path) -> None:
    train = pd.DataFrame({"id": ["a1", "b2"], "label": ["x", "y"]})
    data = _folder(tmp_path, train, pd.DataFrame({"id": ["e5", "f6"], "label": ["x", "x"]}), ["a1.png", "b2.png", "e5.png"])
    with pytest.raises(CornkitError, match=r"sample_submission.csv, row 3, column 'id': image 'images/f6.png' not found"):
        load_dataset(data)


def test_a_test_image_that_no_sample_id_names_is_named(layouts: dict[str, Path], tmp_path: Path) -> None:
    """Without test.csv the test rows are the sample's ids: an extra file in the test folder means the two disagree."""
    data = Path(shutil.copytree(layouts["cassava"], tmp_path / "cassava"))
    shutil.copyfile(next((data / "test_images").iterdir()), data / "test_images" / "stray.png")
    with pytest.raises(CornkitError, match=r"test_images/stray.png: a test image that no id of sample_submission.csv names \(1 such image\(s\)\)"):
        load_dataset(data, check_images=False)


HOSTILE_ID = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(lambda s: s.strip() == s and s != "")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(HOSTILE_ID, min_size=6, max_size=6, unique=True), seed=st.integers(0, 2**16))
def test_ids_of_any_text_go_into_the_submission_exactly_as_read(ids: list[str], seed: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Leading zeros, hex, commas, quotes, spaces, non-ASCII: the submission's ids are the sample's, byte for byte, in its order."""
    from cornkit.data.split import make_split
    from cornkit.runs.run import make_run, save_run

    tmp_path = tmp_path_factory.mktemp("ids")
    train_ids, test_ids = ids[:4], ids[4:]
    names = [f"{k}.png" for k in range(6)]
    train = pd.DataFrame({"id": train_ids, "image": [f"images/{n}" for n in names[:4]], "label": ["x", "y", "x", "y"]})
    test = pd.DataFrame({"id": test_ids, "image": [f"images/{n}" for n in names[4:]]})
    data = _folder(tmp_path, train, pd.DataFrame({"id": test_ids[::-1], "label": ["x", "x"]}), names)
    test.to_csv(data / "test.csv", index=False)
    dataset = load_dataset(data)
    assert dataset.ids("train") == train_ids and sorted(dataset.ids("test")) == sorted(test_ids)
    split = make_split(dataset, tmp_path / "work", valid_frac=0.5, seed=seed % 100)
    rng = np.random.default_rng(seed)
    val, tests = rng.dirichlet([1, 1], size=len(split.evaluation_ids())), rng.dirichlet([1, 1], size=2)
    run = make_run(
        approach="probe", model="m", classes=dataset.classes, split=split, val_probs=val, test_ids=dataset.ids("test"), test_probs=tests, config={}, seed=0
    )
    save_run(run, tmp_path / "work")
    loaded = load_run(run.run_id, tmp_path / "work")
    assert loaded.test_ids.tolist() == test_ids and sorted(loaded.val_ids.tolist()) == sorted(split.evaluation_ids().tolist())
    frame = submission_frame(loaded.test_ids, loaded.test_probs, loaded.classes, dataset, "test")
    written = tmp_path / "submission.csv"
    frame.to_csv(written, index=False)
    assert pd.read_csv(written, dtype=str, keep_default_na=False)["id"].tolist() == test_ids[::-1]


def test_integer_ids_with_leading_zeros_are_written_back_as_read(corn_dir: Path, tmp_path: Path) -> None:
    data = Path(shutil.copytree(corn_dir, tmp_path / "padded"))
    for name in ("train.csv", "test.csv", "sample_submission.csv"):
        frame = pd.read_csv(data / name, dtype=str)
        frame.assign(seed_id=frame["seed_id"].str.zfill(7)).to_csv(data / name, index=False)
    dataset = load_dataset(data)
    assert all(i.startswith("000") for i in dataset.ids("test"))
    probs = np.full((len(dataset.test), 4), 0.25)
    frame = submission_frame(np.asarray(dataset.ids("test")), probs, dataset.classes, dataset, "test")
    assert frame["seed_id"].tolist() == pd.read_csv(data / "sample_submission.csv", dtype=str)["seed_id"].tolist()
