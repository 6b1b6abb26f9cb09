"""A throwaway PostgreSQL cluster on loopback, run as an unprivileged user, for the sweep tests.

``initdb`` makes the cluster in a fresh folder under /tmp (trust authentication, superuser
``cornkit``), ``pg_ctl`` starts it on a free port of 127.0.0.1 with its socket in that folder,
and stops it (immediate mode) afterwards. PostgreSQL refuses to run as root: under root the
cluster belongs to the ``postgres`` user of Debian's package (else ``nobody``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

USER = "cornkit"


def find_binaries() -> Path | None:
    """The folder of initdb and pg_ctl: on PATH, or where Debian's postgresql puts them."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _owner() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root with neither a postgres nor a nobody user to run PostgreSQL as")


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """Start a cluster; yield its URL (``postgresql://cornkit@127.0.0.1:PORT/postgres``); stop it and remove its folder."""
    binaries = find_binaries()
    assert binaries is not None
    owner = _owner()
    root = Path(tempfile.mkdtemp(prefix="cornkit-pg-"))
    as_owner: dict[str, object] = {} if owner is None else {"user": owner.pw_uid, "group": owner.pw_gid}
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data, port = root / "data", _free_port()
    env = {**os.environ, "LC_ALL": "C"}
    try:
        subprocess.run([binaries / "initdb", "-D", data, "-U", USER, "--auth=trust", "-E", "UTF8"], check=True, capture_output=True, env=env, **as_owner)  # type: ignore[call-overload]
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [binaries / "pg_ctl", "-D", data, "-o", options, "-l", root / "log", "-w", "start"], check=True, capture_output=True, env=env, **as_owner
        )  # type: ignore[call-overload]
        try:
            yield f"postgresql://{USER}@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([binaries / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"], capture_output=True, env=env, **as_owner)  # type: ignore[call-overload]
    finally:
        shutil.rmtree(root, ignore_errors=True)
