"""Where a report goes: ``WORK/reports/<name>-<hash of what made it>/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..hashing import config_hash

REPORTS_DIR = "reports"


def report_folder(work: str | Path, name: str, config: dict[str, Any]) -> Path:
    """The folder of report ``name`` made with ``config`` (same config, same folder)."""
    return Path(work) / REPORTS_DIR / f"{name}-{config_hash(config)}"
