"""Property: whatever the competition folder and the Run hold, `submit` writes a valid submission or says one line.

Hypothesis draws small competition folders with hostile labels ("01", "NA", spaces, case
variants, unicode) and ids (huge, duplicated, empty, not integers, missing from the sample), a sample
submission with its columns in any order, and Runs whose probabilities may hold NaN,
infinities, negatives or rows that do not sum to 1, or that repeat a row; and odd
images (16-bit, alpha, palette, CMYK, EXIF-rotated, truncated) for the one image reader. The
invariant: exit code 0 with a submission whose ids are the sample's in order and whose labels
are the Run's argmax, or exit code 2 with one line on stderr and no submission file; never a
traceback, never a wrong file. Examples are few and small, so the suite stays fast.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from cornkit.cli import main
from cornkit.data.images import read_image
from cornkit.errors import CornkitError
from cornkit.runs.run import RUNS_DIR

LABELS = ["pure", "broken", "01", "1", "NA", "nan", "a b", "ü-kernel", "Pure", "pure ", "0x10", "True"]
HOSTILE_IDS = ["99999999999999999999", "1.5", "", "abc", "-0", " 7 ", "1e3"]
HOSTILE_PROBS = [np.nan, np.inf, -np.inf, -0.25, 2.0]
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


@st.composite
def competitions(draw: st.DrawFn) -> dict:
    """Train/test/sample tables as text (exactly what the CSV cells hold), possibly with one hostile cell each."""
    classes = draw(st.lists(st.sampled_from(LABELS), min_size=2, max_size=3, unique=True))
    per_class = draw(st.integers(2, 4))
    labels = [c for c in classes for _ in range(per_class)]
    n_train, n_test = len(labels), draw(st.integers(1, 4))
    ids = draw(st.lists(st.integers(0, 2**63 - 1), min_size=n_train + n_test, max_size=n_train + n_test, unique=True))
    train_ids, test_ids = [str(i) for i in ids[:n_train]], [str(i) for i in ids[n_train:]]
    sample_ids = list(test_ids)
    where = draw(st.sampled_from(["none", "none", "train_id", "test_id", "sample_id", "duplicate", "label"]))
    if where == "train_id":
        train_ids[draw(st.integers(0, n_train - 1))] = draw(st.sampled_from(HOSTILE_IDS))
    elif where == "test_id":
        test_ids[0] = sample_ids[0] = draw(st.sampled_from(HOSTILE_IDS))
    elif where == "sample_id":
        sample_ids[-1] = str(draw(st.integers(0, 2**63 - 1)))
    elif where == "duplicate" and n_test > 1:
        test_ids[1] = sample_ids[1] = test_ids[0]
    elif where == "label":
        labels[draw(st.integers(0, n_train - 1))] = draw(st.sampled_from(LABELS))
    sample = pd.DataFrame({"seed_id": sample_ids, "label": [classes[0]] * n_test})
    return {
        "train": pd.DataFrame({"seed_id": train_ids, "image": [f"train/{k}.png" for k in range(n_train)], "label": labels}),
        "test": pd.DataFrame({"seed_id": test_ids, "image": [f"test/{k}.png" for k in range(n_test)]}),
        "sample": sample[draw(st.permutations(["seed_id", "label"]))],  # roles by name: any column order
    }


def _write(folder: Path, tables: dict) -> None:
    for name, frame in (("train.csv", tables["train"]), ("test.csv", tables["test"]), ("sample_submission.csv", tables["sample"])):
        frame.to_csv(folder / name, index=False)
    for part in ("train", "test"):
        (folder / part).mkdir()
        for image in tables[part]["image"]:
            Image.new("RGB", (4, 4), (200, 180, 120)).save(folder / image)


def _run_quietly(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue()


def _one_line(code: int, err: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err


@given(tables=competitions(), data=st.data())
@SETTINGS
def test_submit_writes_a_valid_submission_or_one_line(tables: dict, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root, work, subs = Path(tmp) / "data", Path(tmp) / "work", Path(tmp) / "subs"
        root.mkdir()
        _write(root, tables)
        common = ["--data", str(root), "--work", str(work)]
        code, err = _run_quietly(["split", *common, "--valid-frac", "0.5"])
        if code != 0:
            event("split refused")
            _one_line(code, err)
            return
        run_id = _make_run(work, root, data)
        if run_id is None:
            return
        code, err = _run_quietly(["submit", run_id, *common, "--submissions", str(subs)])
        if code != 0:
            event("submit refused")
            _one_line(code, err)
            assert not subs.exists() or not list(subs.glob("*.csv"))
            return
        event("submitted")
        _check_submission(subs / f"{run_id}.csv", root, work / RUNS_DIR / run_id)


def _make_run(work: Path, root: Path, data: st.DataObject) -> str | None:
    """A Run made through the API, then (maybe) a hostile number written into its test probabilities."""
    from cornkit.data.dataset import load_dataset
    from cornkit.data.split import load_split
    from cornkit.runs.run import make_run, save_run

    dataset = load_dataset(root, check_images=False)
    split = load_split(work, dataset)
    k, n_val, n_test = len(dataset.classes), len(split.evaluation_ids()), len(dataset.test)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    val, test = rng.dirichlet(np.ones(k), n_val), rng.dirichlet(np.ones(k), n_test)
    run = make_run(
        approach="prop", model="m", classes=dataset.classes, split=split, val_probs=val,
        test_ids=dataset.ids("test"), test_probs=test, config={}, seed=0,
    )  # fmt: skip
    path = save_run(run, work)
    damage = data.draw(st.sampled_from(["none", "number", "repeated row"]), label="damage the Run")
    frame = pd.read_csv(path / "test_probs.csv", dtype=str, keep_default_na=False)
    row = data.draw(st.integers(0, n_test - 1))
    if damage == "number":
        frame.loc[row, data.draw(st.sampled_from(dataset.classes))] = str(data.draw(st.sampled_from(HOSTILE_PROBS)))
    elif damage == "repeated row":
        frame = pd.concat([frame, frame.iloc[[row]]])
    frame.to_csv(path / "test_probs.csv", index=False)
    return run.run_id


def _check_submission(path: Path, root: Path, run_path: Path) -> None:
    """The sample's ids, in its order, each with the Run's argmax class, spelled as in train.csv."""
    written = pd.read_csv(path, dtype=str, keep_default_na=False)
    sample = pd.read_csv(root / "sample_submission.csv", dtype=str, keep_default_na=False)
    classes = sorted(set(pd.read_csv(root / "train.csv", dtype=str, keep_default_na=False)["label"]))
    assert list(written.columns) == list(sample.columns)
    assert written["seed_id"].tolist() == sample["seed_id"].tolist()  # ids are text, written back exactly as read
    probs = pd.read_csv(run_path / "test_probs.csv", dtype={"seed_id": str}, keep_default_na=False).set_index("seed_id")
    expected = [classes[int(np.argmax(probs.loc[i, classes].to_numpy(dtype=float)))] for i in sample["seed_id"]]
    assert list(written["label"]) == expected


IMAGE_KINDS = ["rgb", "i16", "rgba", "la", "palette", "cmyk", "exif", "truncated", "garbage", "empty"]


def _odd_image(kind: str, folder: Path, rng: np.random.Generator) -> tuple[Path, tuple[int, int] | None]:
    """An image file of ``kind`` and the (width, height) a viewer shows, or None if it cannot be read."""
    w, h = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    path = folder / f"{kind}.png"
    if kind == "rgb":
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    elif kind == "i16":
        Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16)).save(path)
    elif kind in ("rgba", "la"):
        Image.fromarray(rng.integers(0, 256, (h, w, 4 if kind == "rgba" else 2), dtype=np.uint8), mode=kind.upper()).save(path)
    elif kind == "palette":
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert("P").save(path, transparency=0)
    elif kind == "cmyk":
        path = path.with_suffix(".jpg")
        Image.new("CMYK", (w, h), tuple(int(v) for v in rng.integers(0, 256, 4))).save(path)
    elif kind == "exif":
        path = path.with_suffix(".jpg")
        image = Image.new("RGB", (w, h), (10, 200, 30))
        exif = image.getexif()
        exif[0x0112] = 8  # rotate 90: the viewer shows h x w
        image.save(path, exif=exif)
        return path, (h, w)
    elif kind == "truncated":
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
        path.write_bytes(path.read_bytes()[:40])
        return path, None
    else:
        path.write_bytes(rng.integers(0, 256, 64 if kind == "garbage" else 0, dtype=np.uint8).tobytes())
        return path, None
    return path, (w, h)


@given(kind=st.sampled_from(IMAGE_KINDS), seed=st.integers(0, 2**32 - 1))
@SETTINGS
def test_read_image_gives_an_rgb_image_as_shown_or_one_line(kind: str, seed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path, shown = _odd_image(kind, Path(tmp), np.random.default_rng(seed))
        try:
            image = read_image(path, "property")
        except CornkitError as error:
            assert shown is None, f"{kind}: {error}"
            assert "\n" not in str(error) and str(path) in str(error)
            return
        assert shown is not None, f"{kind} decoded although it is broken"
        assert image.mode == "RGB" and image.size == shown
        if kind == "i16":
            assert np.asarray(image).std() > 0 or image.size == (1, 1)  # not a constant white
