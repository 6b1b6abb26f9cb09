"""``cornkit demo``: the whole loop on the built-in synthetic set, offline, in minutes on a CPU.

synthetic set -> split -> CLIP features (tiny model, random weights) -> prompt comparison ->
every registered head with its demo flags (zero-shot, linear probe, ..., a random
``convnext_atto`` at 64 px, the tiny CLIP tower fine-tuned LP-FT with WiSE-FT) -> ensembles and a stack of the
two best Runs -> a sweep of the probe (Optuna) -> score -> submit, then one
table of every approach. The heads run exactly as their ``cornkit HEAD`` commands do (the
flags are parsed by the same parser), so a new head shows up here by being registered. Run it
again and the data, split and features are reused (cache hits); the heads train again,
deterministically, so the Runs and submissions come out byte for byte the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from . import params
from .atomic import write_text
from .clip.model import TINY_MODEL, ClipSpec
from .clip.prompts import load_prompt_file
from .data.dataset import Dataset, load_dataset
from .data.split import Split, make_split
from .data.synth import make_synthetic_corn
from .defaults import DEFAULT_CLIP_MODEL, DEFAULT_CLIP_PRETRAINED, DEFAULT_SEED
from .heads.registry import Head, all_heads, run_head
from .kaggle.submission import write_submission
from .reports.prompts import compare_prompts
from .runs.ensemble import ensemble_runs
from .runs.run import Run, save_run
from .runs.scoring import score_run, solution_accuracy
from .runs.stack import stack_runs

REAL_USE = (
    f"Real use: `cornkit download`, then e.g. `cornkit probe --data corn --model {DEFAULT_CLIP_MODEL} "
    f"--pretrained {DEFAULT_CLIP_PRETRAINED}` (or --pretrained /kaggle/input/.../open_clip_pytorch_model.bin offline)."
)
CLIP_DEMO = {"model": TINY_MODEL, "pretrained": "none", "workers": 0}
"""The tiny CLIP model with random weights, for every head on features in the demo (offline, minutes on a CPU)."""


@dataclass(frozen=True)
class DemoResult:
    """The comparison table of the demo's Runs and where it was written."""

    table: pd.DataFrame
    summary_path: Path
    runs: list[Run]


def _step(title: str, say: Callable[[str], None]) -> None:
    say(f"\n== {title}")


def demo_heads() -> list[Head]:
    """The registered heads the demo runs, in rank order."""
    return [head for head in all_heads().values() if head.demo is not None]


def head_demo_params(head: Head) -> dict[str, Any]:
    """The parameters ``cornkit demo`` runs ``head`` with (the CLI tests run the same)."""
    return {**(CLIP_DEMO if head.inputs == "features" else {}), **(head.demo or {})}


def head_demo_argv(head: Head, data: Path, work: Path) -> list[str]:
    """The command line that makes the same Run as the demo's ``head`` step."""
    return [head.name, "--data", str(data), "--work", str(work), *params.to_argv(head.params, head_demo_params(head))]


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


SWEEP_TRIALS = 6


def _sweep_step(dataset: Dataset, split: Split, work: Path, data: Path, say: Callable[[str], None]) -> Run:
    """The probe's C and α chosen by an Optuna sweep scored on the training rows; its best trial's Run."""
    from .heads.registry import get_head
    from .runs.run import load_run
    from .sweeps.params import SweepParams
    from .sweeps.show import write_study_files
    from .sweeps.study import Sweep, load_study

    _step(f"sweep: the probe's C and alpha by Optuna, {SWEEP_TRIALS} trials scored on the training rows only", say)
    fixed = {"model": TINY_MODEL, "pretrained": "none"}
    say(f"$ cornkit sweep probe --data {data} --work {work} --trials {SWEEP_TRIALS} --model {TINY_MODEL} --pretrained none")
    result = Sweep(get_head("probe"), dataset, split, work, fixed, SweepParams(trials=SWEEP_TRIALS)).run()
    assert result.run_id is not None and result.objective is not None and result.val_score is not None
    write_study_files(load_study(result.study, result.storage), work)
    say(
        f"study {result.study}: best trial {result.best_trial}, objective accuracy {result.objective:.4f} (cross-validated on the training rows), "
        f"validation accuracy {result.val_score:.4f}: {result.run_id}"
    )
    return load_run(result.run_id, work)


def run_demo(out: str | Path = "demo", *, n_train: int = 800, n_test: int = 200, seed: int = DEFAULT_SEED, say: Callable[[str], None] = print) -> DemoResult:
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
    say("Zero-shot on random weights is at chance level by design; the heads that learn still learn from the features.")
    say(REAL_USE)

    _step("prompt comparison", say)
    comparison = compare_prompts(dataset, split, work, spec, load_prompt_file(None, dataset.classes), num_workers=0)
    say(comparison.table.drop(columns="description").to_string(index=False))
    say(f"chart: {comparison.png_path}")

    runs = []
    for head in demo_heads():
        _step(f"{head.name}: {head.help}", say)
        say("$ cornkit " + " ".join(head_demo_argv(head, data, work)))
        run = run_head(head.name, dataset, split, work, **head_demo_params(head))
        if head.describe is not None:
            say(head.describe(run))
        say(f"{run.run_id}: validation accuracy {run.metrics['val_accuracy']:.4f}")
        runs.append(run)

    best = sorted((r for r in runs if r.approach != "zeroshot"), key=lambda r: -r.metrics["val_accuracy"])[:2]
    if len(best) == 2:
        _step(f"ensembles and a stack of the two best heads ({best[0].approach}, {best[1].approach})", say)
        equal = ensemble_runs(best)
        searched = ensemble_runs(best, "auto")
        for run in (equal, searched):
            save_run(run, work)
        stack = stack_runs(best)
        stack.save(work)
        say(f"{equal.run_id} (equal weights): validation accuracy {equal.metrics['val_accuracy']:.4f}")
        say(f"{searched.run_id} (weights searched on validation): {searched.metrics['auto_summary']}")
        say(f"{stack.run.run_id} (level-2 model on their probabilities): {stack.report.summary()}")
        runs += [equal, searched, stack.run]

    runs.append(_sweep_step(dataset, split, work, data, say))

    _step("score and submit", say)
    for run in runs:
        report = score_run(run, dataset, max_images=12)
        submission = write_submission(run, dataset, submissions)
        say(f"{run.run_id}: {report.confusion_path.name}, {report.misclassified_path.name} in {run.path}; submission {submission.path}")

    _step("approaches compared", say)
    table = summary_table(runs, data / "solution.csv")
    markdown = table.to_markdown(index=False)
    say(markdown)
    say("(synthetic_test_accuracy uses the synthetic set's own test labels; a real competition keeps them secret.)")
    summary_path = write_text(out / "summary.md", f"# cornkit demo\n\n{markdown}\n\nModel: {spec.label} (random weights).\n")

    _step("report", say)
    from .kaggle.leaderboard import submitted_scores
    from .reports.page import write_report

    say(f"every Run on one page, each score with its 95 % interval: {write_report(work, scores=submitted_scores(submissions), seed=seed).path}")
    return DemoResult(table=table, summary_path=summary_path, runs=runs)
