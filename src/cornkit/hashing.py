"""The one way the kit turns a configuration, bytes or a file into a short, stable hash.

Run ids, feature-cache keys, split ids, report folders and data fingerprints all hash what made
them, so the same inputs land in the same place. Written once, with one length: two hashes of
the same thing never disagree because one helper cut it shorter.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

HASH_LENGTH = 12
"""Hex digits kept: 48 bits, so a work folder's few thousand Runs, caches and reports never collide by chance."""
CHUNK = 1 << 20


def config_hash(config: Any) -> str:
    """Hash of a JSON-able value, independent of key order (values JSON cannot hold are hashed as their text)."""
    return bytes_hash(json.dumps(config, sort_keys=True, default=str).encode())


def bytes_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:HASH_LENGTH]


def files_hash(*paths: Path) -> str:
    """Hash of the contents of ``paths``, in order (a split file, a competition's CSVs)."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    return digest.hexdigest()[:HASH_LENGTH]


def file_sha256(path: Path) -> str:
    """The full SHA-256 of a file: what a saved model is checked against before it is loaded."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def ends_hash(path: Path) -> str:
    """Hash of a file's first and last MiB: a cheap identity for multi-GB checkpoints, read on every call."""
    size = path.stat().st_size
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        digest.update(handle.read(CHUNK))
        handle.seek(max(0, size - CHUNK))
        digest.update(handle.read(CHUNK))
    return digest.hexdigest()[:HASH_LENGTH]
