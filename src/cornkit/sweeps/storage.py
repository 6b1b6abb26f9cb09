"""Where a study lives, and the one lock that keeps its trial count exact across processes and machines.

The embedded storage is one SQLite file, ``WORK/sweeps/studies.db``, through Optuna's
``RDBStorage``. That storage, not the journal file, because only ``RDBStorage`` has Optuna's
heartbeat: a trial whose process was SIGKILLed stops beating, is marked failed after the grace
period, and ``RetryHeartbeatStaleTrialCallback`` queues it again, so no trial stays RUNNING for ever.
SQLite serialises writers itself; each connection waits up to a minute for the lock instead of
failing at once (``benchmarks/sweep_storage.py`` measures several processes on one study, with
SQLite and with the journal file). ``--storage postgresql://...`` is the same storage on a
server that several machines share (the driver, psycopg: ``pip install cornkit[postgres]``).

Optuna alone cannot stop several workers at exactly N trials: each one counts, sees N-1 and
starts one more. So a worker takes the study's start lock, fails the trials whose heartbeat
went stale, counts, and holds the lock until its new trial is RUNNING in the storage; the
next worker's count includes it. On SQLite the lock is a file lock beside the database (the
kernel frees it when its holder dies); on PostgreSQL an advisory lock of the study, held by a
connection of its own (the server frees it when the connection drops).
"""

from __future__ import annotations

import contextlib
import logging
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import CornkitError
from ..locks import locked

log = logging.getLogger(__name__)

SWEEPS_DIR = "sweeps"
EMBEDDED_DB = "studies.db"
SQLITE_WAIT_S = 60
"""How long a SQLite connection waits for another process's write before it fails."""
DEFAULT_HEARTBEAT_S = 60
SCHEMA_LOCK = "schema"
MAX_RETRY = 3
"""How many times a trial whose process died is queued again."""


def sweeps_dir(work: str | Path) -> Path:
    return Path(work) / SWEEPS_DIR


def embedded_url(work: str | Path) -> str:
    """The default storage: one SQLite file under ``WORK/sweeps/``."""
    return f"sqlite:///{(sweeps_dir(work) / EMBEDDED_DB).resolve()}"


def _sqlite_file(url: str) -> Path | None:
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def open_storage(url: str, heartbeat_s: int | None = DEFAULT_HEARTBEAT_S) -> Any:
    """Optuna's ``RDBStorage`` on ``url``, with the heartbeat (``heartbeat_s``, stale after twice that) and failed trials retried.

    ``heartbeat_s=None``: no heartbeat, for trials asked and told by hand (a kernels sweep), which live as long as their kernels.
    """
    import optuna

    engine_kwargs: dict[str, Any] = {}
    database = _sqlite_file(url)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": SQLITE_WAIT_S}}
    elif url.startswith("postgresql"):
        _require_postgres_driver(url)
    try:
        with storage_lock(url, SCHEMA_LOCK):  # the first workers of a new database would each create its tables
            return optuna.storages.RDBStorage(
                with_driver(url),
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_s,
                grace_period=None if heartbeat_s is None else 2 * heartbeat_s,
                heartbeat_stale_trial_callback=None if heartbeat_s is None else optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
            )
    except Exception as error:  # SQLAlchemy's errors: a server that is down, a bad password, a URL it cannot read
        if isinstance(error, CornkitError):
            raise
        raise CornkitError(
            f"--storage {shown_url(url)}: {type(error).__name__}: {str(error).splitlines()[0].rstrip('.')}. Check the URL and that the database is up."
        ) from None


def shown_url(url: str) -> str:
    """The URL with its password hidden (it is printed in errors)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not even a URL: show it as given
        return url


def _require_postgres_driver(url: str) -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise CornkitError(f"--storage {shown_url(url)}: PostgreSQL needs its driver: pip install 'cornkit[postgres]' (psycopg).") from None


def with_driver(url: str) -> str:
    """``postgresql://...`` as SQLAlchemy reads it with the driver the extra installs (psycopg 3; SQLAlchemy's default differs by version)."""
    return "postgresql+psycopg://" + url.removeprefix("postgresql://") if url.startswith("postgresql://") else url


def start_lock(url: str, study: str) -> contextlib.AbstractContextManager[None]:
    """Held while a worker counts the study's trials and starts one (see the module's docstring)."""
    return storage_lock(url, f"study {study}")


@contextlib.contextmanager
def storage_lock(url: str, what: str) -> Iterator[None]:
    """A lock named ``what`` that every process using the storage ``url`` sees: a file lock for SQLite, an advisory lock on PostgreSQL."""
    database = _sqlite_file(url)
    if database is not None:
        with locked(database.with_name(f"{database.name}.{what.replace(' ', '-')}"), f"{what} in {database}"):
            yield
        return
    if url.startswith("postgresql"):
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(with_driver(url), poolclass=NullPool)
        key = zlib.crc32(what.encode())
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        engine.dispose()
        return
    log.warning("--storage %s: no lock to count trials across workers on it; several workers may end a trial or two past --trials.", shown_url(url))
    yield
