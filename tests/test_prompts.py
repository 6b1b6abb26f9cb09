"""Prompt files: TOML sets with several names per class, Roboflow captions, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from cornkit.clip.prompts import load_prompt_file
from cornkit.errors import CornkitError

CLASSES = ("broken", "discolored", "pure", "silkcut")


def test_the_shipped_corn_prompts_cover_every_class_and_both_combines() -> None:
    prompts = load_prompt_file(None, CLASSES)
    assert prompts.default in prompts.sets
    assert {s.combine for s in prompts.sets.values()} == {"mean", "max"}
    assert prompts.get("bare").templates == ("{}",)
    assert prompts.get(None).names["pure"] and all(set(s.names) == set(CLASSES) for s in prompts.sets.values())


def test_names_default_to_the_labels_and_several_names_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        'default = "many"\n[sets.plain]\ntemplates = ["a photo of a {}."]\n'
        '[sets.many]\ntemplates = ["{}"]\ncombine = "max"\n[sets.many.names]\n'
        'broken = ["broken", "cracked"]\ndiscolored = "brown"\npure = ["clean"]\nsilkcut = ["cut"]\n'
    )
    prompts = load_prompt_file(path, CLASSES)
    assert prompts.get("plain").names == {c: (c,) for c in CLASSES}
    assert prompts.get(None).names["broken"] == ("broken", "cracked") and prompts.get(None).names["discolored"] == ("brown",)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[sets.a]\ntemplates = ["a photo"]\n', r"exactly one '\{\}'"),
        ("[sets.a]\ntemplates = []\n", "needs `templates`"),
        ('[sets.a]\ntemplates = ["{}"]\ncombine = "sum"\n', r"combine = 'sum'; use one of \['mean', 'max'\]"),
        (
            '[sets.a]\ntemplates = ["{}"]\n[sets.a.names]\nbroken = ["b"]\nmouldy = ["m"]\n',
            r"unknown class\(es\) \['mouldy'\]; no names for \['discolored', 'pure', 'silkcut'\]",
        ),
        ('default = "zzz"\n[sets.a]\ntemplates = ["{}"]\n', "default = 'zzz' names no set"),
        ("[sets.a\n", "not valid TOML"),
    ],
)
def test_bad_prompt_files_say_what_is_wrong(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(body)
    with pytest.raises(CornkitError, match=message):
        load_prompt_file(path, CLASSES)


def test_unknown_set_name_lists_the_sets() -> None:
    with pytest.raises(CornkitError, match=r"--prompt-set 'nope' is not in .*bare"):
        load_prompt_file(None, CLASSES).get("nope")


def test_roboflow_tokenization_maps_lines_to_sorted_classes(tmp_path: Path) -> None:
    path = tmp_path / "_tokenization.txt"
    path.write_text("a broken kernel\na brown kernel\na clean kernel\na cut kernel\n")
    prompt_set = load_prompt_file(path, ("pure", "silkcut", "broken", "discolored")).get(None)
    assert prompt_set.names == {
        "broken": ("a broken kernel",),
        "discolored": ("a brown kernel",),
        "pure": ("a clean kernel",),
        "silkcut": ("a cut kernel",),
    }
    path.write_text("only one line\n")
    with pytest.raises(CornkitError, match="1 caption\\(s\\) for 4 classes"):
        load_prompt_file(path, CLASSES)
