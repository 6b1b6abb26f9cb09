"""Score every prompt set of a prompt file on the validation split, from cached features.

This is the blog posts' experiment ("daisy" vs "a picture of a daisy flower") made one
command: a table and a bar chart, with the majority-class rate drawn in so that a set which
only learned to say "pure" is seen for what it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from ..atomic import write_csv
from ..clip.features import extract_features
from ..clip.model import ClipSpec, load_clip
from ..clip.prompts import PromptFile
from ..clip.text_classifier import build_classifier
from ..data.dataset import Dataset
from ..data.split import Split
from ..hashing import files_hash
from ..plots import bar_chart_png
from ..runs.metrics import classification_metrics

PROMPTS_DIR = "prompts"


@dataclass(frozen=True)
class PromptComparison:
    """The comparison table (best first) and where its CSV and chart were written."""

    table: pd.DataFrame
    csv_path: Path
    png_path: Path


def compare_prompts(
    dataset: Dataset,
    split: Split,
    work: str | Path,
    spec: ClipSpec,
    prompt_file: PromptFile,
    *,
    device: torch.device | str | None = None,
    batch_size: int = 64,
    num_workers: int | None = None,
) -> PromptComparison:
    """Validation accuracy of every set in ``prompt_file`` with the ``spec`` model."""
    clip = load_clip(spec, device)
    features = extract_features(dataset, work, spec, batch_size=batch_size, num_workers=num_workers, clip=clip)
    rows_to_score = split.validation_rows()
    labels = rows_to_score.labels
    val_features = features.rows("train", rows_to_score.ids)
    rows = []
    for prompt_set in prompt_file.sets.values():
        probs = build_classifier(clip, prompt_set, dataset.classes).predict_proba(val_features)
        predictions = [dataset.classes[k] for k in probs.argmax(axis=1)]
        metrics = classification_metrics(labels, predictions, dataset.classes)
        rows.append(
            {
                "prompt_set": prompt_set.name,
                "combine": prompt_set.combine,
                "templates": len(prompt_set.templates),
                "names_per_class": round(sum(map(len, prompt_set.names.values())) / len(prompt_set.names), 2),
                "val_accuracy": round(metrics["val_accuracy"], 4),
                "val_balanced_accuracy": round(metrics["val_balanced_accuracy"], 4),
                "description": prompt_set.description,
            }
        )
    table = pd.DataFrame(rows).sort_values("val_accuracy", ascending=False, kind="stable").reset_index(drop=True)
    file_hash = files_hash(prompt_file.path)
    out = Path(work) / PROMPTS_DIR / f"{features.key}-{file_hash}"
    majority = float(pd.Series(labels).value_counts(normalize=True).iloc[0])
    csv_path = write_csv(out / "comparison.csv", table)
    png_path = bar_chart_png(
        list(table["prompt_set"]),
        list(table["val_accuracy"]),
        out / "comparison.png",
        f"zero-shot prompt sets, {spec.label}{' (RANDOM weights)' if spec.is_random else ''}",
        "validation accuracy",
        reference=majority,
    )
    return PromptComparison(table=table, csv_path=csv_path, png_path=png_path)
