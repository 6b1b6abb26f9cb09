"""Near-duplicates: a training image copied into the test set is found; an untouched set has none."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from cornkit.cli import main
from cornkit.reports.dupes import similar_pairs

CLIP = ["--model", "cornkit-tiny-clip", "--pretrained", "none", "--workers", "0"]
NEW_TEST_ID = 999_999


def _plant_copy(data: Path) -> tuple[int, str]:
    """Copy a training image into the test set under a new id (test.csv and sample_submission.csv rows); return its train id and label."""
    train = pd.read_csv(data / "train.csv")
    source = train.iloc[7]
    shutil.copyfile(data / source["image"], data / "test" / f"{NEW_TEST_ID}.png")
    test = pd.read_csv(data / "test.csv")
    test = pd.concat([test, pd.DataFrame({"seed_id": [NEW_TEST_ID], "image": [f"test/{NEW_TEST_ID}.png"]})], ignore_index=True)
    test.to_csv(data / "test.csv", index=False)
    sample = pd.read_csv(data / "sample_submission.csv")
    sample = pd.concat([sample, pd.DataFrame({"seed_id": [NEW_TEST_ID], "label": [sample["label"].iloc[0]]})], ignore_index=True)
    sample.to_csv(data / "sample_submission.csv", index=False)
    return int(source["seed_id"]), str(source["label"])


def test_finds_a_training_image_copied_into_the_test_set(corn_copy: Path, tmp_path: Path, capsys) -> None:
    train_id, label = _plant_copy(corn_copy)
    work = tmp_path / "work"
    assert main(["dupes", "--data", str(corn_copy), "--work", str(work), *CLIP]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    folder = Path(out[-1])
    assert folder.parent == work / "reports" and folder.name.startswith("dupes-")
    pairs = pd.read_csv(folder / "dupes.csv")
    assert len(pairs) == 1  # the planted copy, and nothing else
    found = pairs.iloc[0]
    assert (found["kind"], found["id_a"], found["part_a"], found["label_a"]) == ("train-test", train_id, "train", label)
    assert (found["id_b"], found["part_b"]) == (NEW_TEST_ID, "test")
    assert found["similarity"] > 0.9999
    assert (folder / "dupes.png").stat().st_size > 0
    assert "1 test image(s) are near-copies" in out[-3]


def test_no_pair_above_the_threshold_on_the_untouched_set(clip_work) -> None:
    from cornkit.reports.dupes import dupes_report

    dataset, _, work, features = clip_work
    report = dupes_report(dataset, features, work)
    assert report.pairs.empty
    assert report.png_path.is_file() and report.csv_path.is_file()
    # the same set at a lower threshold does list pairs: the empty answer above is the threshold's, not a broken search
    assert len(dupes_report(dataset, features, work, threshold=0.9).pairs) > 0


def test_a_training_copy_with_another_label_is_label_noise(clip_work) -> None:
    from dataclasses import replace

    from cornkit.reports.dupes import find_dupes

    dataset, _, _, features = clip_work
    labels = dataset.train.set_index("seed_id")["label"].loc[features.train_ids].to_numpy()
    other = int(np.flatnonzero(labels != labels[0])[0])
    same = int(np.flatnonzero(labels == labels[0])[1])
    train = features.train.copy()
    train[other] = train[same] = train[0]
    pairs = find_dupes(dataset, replace(features, train=train))
    ids = features.train_ids
    assert set(pairs["kind"]) == {"train-train"}
    # three copies: the two with the other label each pair with it; the same-label pair is no label noise
    assert {frozenset(p) for p in zip(pairs["id_a"], pairs["id_b"], strict=True)} == {frozenset((ids[0], ids[other])), frozenset((ids[same], ids[other]))}
    assert all(a != b for a, b in zip(pairs["label_a"], pairs["label_b"], strict=True))


@settings(max_examples=30, deadline=None)
@given(
    n_queries=st.integers(1, 40),
    block_rows=st.integers(1, 50),
    per_query=st.integers(1, 6),
    threshold=st.floats(-0.5, 0.9),
    seed=st.integers(0, 10_000),
)
def test_blocks_find_the_same_pairs_as_the_whole_matrix(n_queries, block_rows, per_query, threshold, seed) -> None:
    rng = np.random.default_rng(seed)
    unit = rng.normal(size=(n_queries, 4)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    labels = rng.integers(0, 3, n_queries)
    found = similar_pairs(unit, unit, threshold, same_set=True, query_labels=labels, reference_labels=labels, per_query=per_query, block_rows=block_rows)
    sims = unit @ unit.T
    expected = set()
    for i in range(n_queries):
        partners = [j for j in range(i + 1, n_queries) if labels[j] != labels[i]]
        best = sorted(partners, key=lambda j: -sims[i, j])[:per_query]
        expected |= {(i, j) for j in best if sims[i, j] >= threshold}
    assert set(zip(found[0].tolist(), found[1].tolist(), strict=True)) == expected
