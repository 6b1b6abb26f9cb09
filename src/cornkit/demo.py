"""``cornkit demo``: the whole loop on the built-in synthetic set, offline, in minutes on a CPU.

synthetic set -> split -> CLIP features (tiny model, random weights) -> zero-shot -> prompt
comparison -> linear probe -> ConvNeXt (random ``convnext_atto``, 64 px) -> ensembles of the
probe and the ConvNeXt -> score -> submit, then one table of every approach. Run it again
and the data, split and features are reused (cache hits); the probe and the ConvNeXt train
again, deterministically, so the Runs and submissions come out byte for byte the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .atomic import write_text
from .clip_model import TINY_MODEL, ClipSpec
from .convnext import train_tiny_convnext
from .dataset import load_dataset
from .ensemble import ensemble_runs
from .probe import run_probe
from .prompt_compare import compare_prompts
from .prompts import load_prompt_file
from .runs import Run, save_run
from .scoring import score_run, solution_accuracy
from .split import make_split
from .submission import write_submission
from .synth import make_synthetic_corn
from .zeroshot import run_zeroshot

REAL_USE = (
    "Real use: `cornkit download`, then e.g. `cornkit probe --data corn --model ViT-H-14 "
    "--pretrained laion2b_s32b_b79k` (or --pretrained /kaggle/input/.../open_clip_pytorch_model.bin offline)."
)


@dataclass(frozen=True)
class DemoResult:
    """The comparison table of the demo's Runs and where it was written."""

    table: pd.DataFrame
    summary_path: Path
    runs: list[Run]


def _step(title: str, say: Callable[[str], None]) -> None:
    say(f"\n== {title}")


def summary_table(runs: list[Run], solution_csv: Path | None) -> pd.DataFrame:
    """One row per Run: local validation metrics and, for a synthetic set, its test accuracy."""
    rows = []
    for run in runs:
        row = {
            "approach": run.approach,
            "model": run.model,
            "run_id": run.run_id,
            "val_accuracy": round(run.metrics["val_accuracy"], 4),
            "val_balanced_accuracy": round(run.metrics["val_balanced_accuracy"], 4),
        }
        if solution_csv is not None:
            row["synthetic_test_accuracy (solution.csv)"] = round(solution_accuracy(run, solution_csv)["all"], 4)
        rows.append(row)
    return pd.DataFrame(rows)


def run_demo(out: str | Path = "demo", *, n_train: int = 800, n_test: int = 200, seed: int = 0, say: Callable[[str], None] = print) -> DemoResult:
    """Run the loop under ``out`` (data/, work/, submissions/, summary.md) and return its table."""
    out = Path(out)
    data, work, submissions = out / "data", out / "work", out / "submissions"
    spec = ClipSpec(TINY_MODEL, "none")

    _step("synthetic corn set", say)
    if not (data / "train.csv").exists():
        make_synthetic_corn(data, n_train=n_train, n_test=n_test, seed=seed)
    dataset = load_dataset(data)
    say(f"{len(dataset.train)} train / {len(dataset.test)} test images in {data}, classes {list(dataset.classes)}")

    _step("validation split", say)
    split = make_split(dataset, work)
    say(f"holdout split {split.split_id}: {len(split.valid_ids())} validation rows, saved to {work / 'split.csv'}")

    say(f"\nModel: {spec.label}, a tiny open_clip ViT with RANDOM weights, so the demo runs offline in minutes.")
    say("Zero-shot on random weights is at chance level by design; the probe still learns from the features.")
    say(REAL_USE)

    _step("zero-shot (kit's corn prompts, default set)", say)
    prompt_file = load_prompt_file(None, dataset.classes)
    zeroshot = run_zeroshot(dataset, split, work, spec, prompt_file.get(None), num_workers=0)
    say(f"{zeroshot.run_id}: validation accuracy {zeroshot.metrics['val_accuracy']:.4f}")

    _step("prompt comparison", say)
    comparison = compare_prompts(dataset, split, work, spec, prompt_file, num_workers=0)
    say(comparison.table.drop(columns="description").to_string(index=False))
    say(f"chart: {comparison.png_path}")

    _step("linear probe (logistic regression, C by 5-fold CV on the training rows)", say)
    probe = run_probe(dataset, split, work, spec, num_workers=0)
    say(f"{probe.run_id}: validation accuracy {probe.metrics['val_accuracy']:.4f}, C = {probe.metrics['chosen_C'][0]:g}")

    _step("ConvNeXt (fastai + timm convnext_atto, random init, 64 px, TTA)", say)
    convnext = train_tiny_convnext(dataset, split, work)
    say(f"{convnext.run_id}: validation accuracy {convnext.metrics['val_accuracy']:.4f}")

    _step("ensembles of the probe and the ConvNeXt", say)
    equal = ensemble_runs([probe, convnext])
    searched = ensemble_runs([probe, convnext], "auto")
    for run in (equal, searched):
        save_run(run, work)
    say(f"{equal.run_id} (equal weights): validation accuracy {equal.metrics['val_accuracy']:.4f}")
    say(f"{searched.run_id} (weights searched on validation): {searched.metrics['auto_summary']}")

    runs = [zeroshot, probe, convnext, equal, searched]
    _step("score and submit", say)
    for run in runs:
        report = score_run(run, dataset)
        submission = write_submission(run, dataset, submissions)
        say(f"{run.run_id}: {report.confusion_path.name}, {report.misclassified_path.name} in {run.path}; submission {submission.path}")

    _step("approaches compared", say)
    table = summary_table(runs, data / "solution.csv")
    markdown = table.to_markdown(index=False)
    say(markdown)
    say("(synthetic_test_accuracy uses the synthetic set's own test labels; a real competition keeps them secret.)")
    summary_path = write_text(out / "summary.md", f"# cornkit demo\n\n{markdown}\n\nModel: {spec.label} (random weights).\n")
    return DemoResult(table=table, summary_path=summary_path, runs=runs)

