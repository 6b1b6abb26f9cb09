"""The submission's kind is read from sample_submission.csv, and the written values are of that kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cornkit.data.submission_format import SubmissionFormat, detect_submission_format
from cornkit.errors import CornkitError
from cornkit.kaggle.submission import PROBABILITY_FLOOR, submission_values, validate_submission

CORN = ["broken", "discolored", "pure", "silkcut"]
SAMPLE = Path("sample_submission.csv")


def sample(**columns: list[str]) -> pd.DataFrame:
    """A sample submission as the kit reads it: every cell as text."""
    return pd.DataFrame({"id": ["1", "2", "3"], **columns})


def test_a_label_column_holding_classes_is_a_label_submission() -> None:
    found = detect_submission_format(SAMPLE, sample(label=["pure"] * 3), CORN, "id")
    assert found == SubmissionFormat("label", ("label",))


def test_a_placeholder_in_a_column_named_like_the_label_is_still_a_label_submission() -> None:
    assert detect_submission_format(SAMPLE, sample(label=["x"] * 3), CORN, "id").kind == "label"


def test_one_column_per_class_is_probabilities_in_the_samples_order() -> None:
    order = ["silkcut", "pure", "broken", "discolored"]
    found = detect_submission_format(SAMPLE, sample(**{c: ["0.25"] * 3 for c in order}), CORN, "id")
    assert found.kind == "probabilities" and found.value_columns == tuple(order) and found.column_classes == tuple(order)


@pytest.mark.parametrize(("classes", "positive"), [(["0", "1"], "1"), (["False", "True"], "True"), (["no", "yes"], "yes"), (["cat", "dog"], "dog")])
def test_two_classes_and_a_number_are_the_positive_class_probability(classes: list[str], positive: str) -> None:
    found = detect_submission_format(SAMPLE, sample(target=["0.5"] * 3), classes, "id")
    assert found == SubmissionFormat("positive-probability", ("target",), (positive,))


def test_two_integer_classes_and_a_class_value_are_a_label_unless_the_flag_says_otherwise() -> None:
    frame = sample(target=["0", "1", "0"])
    assert detect_submission_format(SAMPLE, frame, ["0", "1"], "id").kind == "label"
    assert detect_submission_format(SAMPLE, frame, ["0", "1"], "id", forced="positive-probability").kind == "positive-probability"


@pytest.mark.parametrize(
    ("columns", "classes", "forced", "needle"),
    [
        ({"pure": ["0.5"] * 3, "broken": ["0.5"] * 3, "other": ["0"] * 3}, CORN, None, "['other'] are not classes"),
        ({"pure": ["0.5"] * 3, "broken": ["0.5"] * 3}, CORN, None, "['discolored', 'silkcut'] have no column"),
        ({"target": ["x"] * 3}, CORN, None, "neither a class nor"),
        ({"target": ["0.5"] * 3}, CORN, "positive-probability", "needs two classes"),
        ({"pure": ["0.5"] * 3, "broken": ["0.5"] * 3}, ["broken", "pure"], "label", "takes one value column"),
    ],
)
def test_a_sample_that_cannot_be_mapped_is_one_line_naming_its_columns_and_the_flag(columns, classes, forced, needle) -> None:
    with pytest.raises(CornkitError) as error:
        detect_submission_format(SAMPLE, sample(**columns), classes, "id", forced=forced)
    message = str(error.value)
    assert needle in message and "--submission-format label|probabilities|positive-probability" in message
    assert str(list(columns)) in message and "\n" not in message


rows_of_probabilities = st.integers(1, 6).flatmap(
    lambda k: arrays(np.float64, st.tuples(st.integers(1, 20), st.just(k + 1)), elements=st.floats(0, 1)).filter(lambda a: (a.sum(axis=1) > 0).all())
)


@settings(max_examples=60, deadline=None)
@given(raw=rows_of_probabilities, data=st.data())
def test_probability_submissions_sum_to_one_away_from_zero_and_one_in_the_samples_order(raw: np.ndarray, data: st.DataObject) -> None:
    probs = raw / raw.sum(axis=1, keepdims=True)
    classes = [f"class {k}" for k in range(probs.shape[1])]
    order = data.draw(st.permutations(classes))
    values = submission_values(probs, classes, SubmissionFormat("probabilities", tuple(order), tuple(order))).to_numpy()
    assert np.allclose(values.sum(axis=1), 1, atol=1e-12)
    assert (values >= PROBABILITY_FLOOR * 0.99).all() and (values < 1).all()
    back = values[:, [order.index(c) for c in classes]]  # the columns hold their own class's probability
    assert np.abs(back - probs).max() <= probs.shape[1] * PROBABILITY_FLOOR
    ranked = np.sort(probs, axis=1)
    clear = ranked[:, -1] > ranked[:, -2] + 1e-9  # the flooring keeps a clear winner the winner
    assert (back.argmax(axis=1)[clear] == probs.argmax(axis=1)[clear]).all()


def test_a_positive_probability_submission_holds_the_positive_class_column() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [1.0, 0.0]])
    values = submission_values(probs, ["1", "0"], SubmissionFormat("positive-probability", ("target",), ("1",)))
    assert list(values.columns) == ["target"] and np.allclose(values["target"], [0.9, 0.2, 1 - PROBABILITY_FLOOR], atol=1e-9)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda f: f.assign(pure=f["pure"] + 0.1), "sum to"),
        (lambda f: f.assign(pure=np.nan), "is not a probability"),
        (lambda f: f.assign(pure=-0.5, broken=1.5), "is not a probability"),
    ],
)
def test_a_probability_submission_that_is_not_one_is_refused_naming_the_row(change, needle) -> None:
    fmt = SubmissionFormat("probabilities", ("pure", "broken"), ("pure", "broken"))
    expected = pd.DataFrame({"id": [1, 2], "pure": [0.5, 0.5], "broken": [0.5, 0.5]})
    validate_submission(expected, expected, ["broken", "pure"], id_column="id", submission_format=fmt)
    with pytest.raises(CornkitError, match=rf"row 2.*{needle}|{needle}"):
        validate_submission(change(expected), expected, ["broken", "pure"], id_column="id", submission_format=fmt)
