"""Where a report goes: ``WORK/reports/<name>-<hash of what made it>/``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

REPORTS_DIR = "reports"


def report_folder(work: str | Path, name: str, config: dict[str, Any]) -> Path:
    """The folder of report ``name`` made with ``config`` (same config, same folder)."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return Path(work) / REPORTS_DIR / f"{name}-{digest}"
