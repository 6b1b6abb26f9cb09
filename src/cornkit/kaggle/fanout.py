"""Many kernels within Kaggle's limits: push them keeping at most N GPU sessions, follow them all.

Kaggle runs only a few GPU sessions of one account at once and refuses a push beyond that in
the response (see :mod:`cornkit.kaggle.kernel_api`), and each GPU hour comes out of a weekly
quota. :func:`push_all` prints the quota left and the fan-out's estimated hours first (from the
run times recorded when earlier versions completed; kernels never seen complete count 0 and are
named), refuses a fan-out that would not fit unless forced (a quota that cannot be read is said in one
line and checks nothing: the push goes ahead), then pushes one kernel after
another: while N of its GPU kernels run, or after Kaggle refused one for the session count, it
polls the running ones and pushes again when one finishes (a refusal while none of its own runs
means other kernels of the account hold the sessions: it retries every poll). Every state
change is one line; ``timeout_s`` ends the wait with a line naming what was not pushed. The
poll interval is ``CORNKIT_KERNEL_POLL_S`` seconds (default 30).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import CornkitError
from .client import KaggleSession, seconds_from_env
from .kernel_api import FINISHED, SessionLimit, gpu_quota, kernel_status, push_kernel
from .kernels import KernelFolder

log = logging.getLogger(__name__)

POLL_ENV = "CORNKIT_KERNEL_POLL_S"
DEFAULT_POLL_S = 30.0
INVALID_SOURCES = ("invalid_competition_sources", "invalid_dataset_sources", "invalid_model_sources", "invalid_kernel_sources")


def poll_interval() -> float:
    """Seconds between two status calls (``CORNKIT_KERNEL_POLL_S``, default 30)."""
    return seconds_from_env(POLL_ENV, DEFAULT_POLL_S, "30")


@dataclass
class Follower:
    """Asks the state of kernels, records it in each kernel's record, and says each change in one line (``say=None``: quietly)."""

    session: KaggleSession
    say: Callable[[str], None] | None = log.info
    last: dict[str, str] = field(default_factory=dict)

    def poll(self, kernel: KernelFolder) -> tuple[str, str]:
        state, failure = kernel_status(kernel, self.session)
        if self.say is not None and self.last.get(kernel.name) != state:
            self.say(f"{kernel.name}: {state}" + (f" ({failure})" if failure else ""))
        self.last[kernel.name] = state
        record = kernel.record()
        if record.state != state:
            kernel.update(record.seen(state))
        return state, failure

    def still_running(self, kernels: Sequence[KernelFolder]) -> list[KernelFolder]:
        return [kernel for kernel in kernels if self.poll(kernel)[0] not in FINISHED]


def check_quota(kernels: Sequence[KernelFolder], session: KaggleSession, *, force: bool) -> None:
    """Print the weekly GPU quota left and the fan-out's estimate; refuse an estimate above it unless ``force``.

    The quota only guards against a fan-out Kaggle would stop halfway, so an unreadable one
    (Kaggle busy, the endpoint refused to this token) is one warning line, not a refused push.
    """
    gpu = [kernel for kernel in kernels if kernel.uses_gpu]
    if not gpu:
        return
    try:
        quota = gpu_quota(session)
    except CornkitError as error:
        log.warning("GPU quota not checked, pushing anyway: %s", error)
        return
    if quota is None:
        log.info("GPU quota: Kaggle reports none for this account")
        return
    seconds = {kernel.name: kernel.record().run_seconds for kernel in gpu}
    estimate_h = sum(s for s in seconds.values() if s is not None) / 3600
    unknown = [name for name, s in seconds.items() if s is None]
    detail = f"; never seen complete, not counted: {', '.join(unknown)}" if unknown else ""
    log.info("%s; this fan-out: about %.1f h from recorded run times%s", quota.line(), estimate_h, detail)
    if estimate_h > quota.left_h and not force:
        raise CornkitError(
            f"the {len(gpu)} GPU kernels need about {estimate_h:.1f} h, more than the {quota.left_h:.1f} h of GPU quota left this week: "
            "push fewer of them, or pass --force to push anyway (Kaggle stops sessions when the quota runs out)."
        )


def push_all(
    kernels: Sequence[KernelFolder],
    session: KaggleSession,
    *,
    max_running: int,
    timeout_s: float,
    interval_s: float,
    accelerator: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Any]:
    """Push ``kernels`` in order, at most ``max_running`` GPU kernels running at once; return the push responses."""
    deadline = time.monotonic() + timeout_s
    follower = Follower(session)
    running: list[KernelFolder] = []
    responses: list[Any] = []
    queue = list(kernels)
    said = ""
    while queue:
        kernel = queue[0]
        if kernel.uses_gpu and len(running) >= max_running:
            blocked = f"{len(running)} GPU kernels running (--max-running {max_running})"
        else:
            try:
                response = push_kernel(kernel, session, accelerator=accelerator)
            except SessionLimit as refusal:
                blocked = str(refusal)
            else:
                queue.pop(0)
                responses.append(response)
                kernel.update(kernel.record().pushed(response.version_number))
                follower.last.pop(kernel.name, None)
                _say_pushed(kernel, response)
                running += [kernel] if kernel.uses_gpu else []
                continue
        if blocked != said:
            log.info("%s: waiting to push: %s", kernel.name, blocked)
            said = blocked
        running = _wait_for_a_slot(follower, running, deadline, interval_s, sleep, [k.name for k in queue], timeout_s)
    return responses


def _say_pushed(kernel: KernelFolder, response: Any) -> None:
    for name in INVALID_SOURCES:
        if getattr(response, name):
            log.warning(
                "Kaggle did not recognise %s of %s: %s", name.removeprefix("invalid_").replace("_", " "), kernel.name, ", ".join(getattr(response, name))
            )
    log.info("%s: pushed %s version %s: %s", kernel.name, kernel.kernel_id, response.version_number, response.url)


def _wait_for_a_slot(
    follower: Follower,
    running: list[KernelFolder],
    deadline: float,
    interval_s: float,
    sleep: Callable[[float], None],
    waiting: list[str],
    timeout_s: float,
) -> list[KernelFolder]:
    """Poll until one of ``running`` finishes (or one poll, when none of ours runs); the kernels still running."""
    while True:
        if time.monotonic() >= deadline:
            raise CornkitError(
                f"--timeout {timeout_s:g} s passed and {', '.join(waiting)} could not be pushed yet; the pushed kernels keep running: "
                "follow them with `cornkit kernels status --all --wait SECONDS` and push the rest later."
            )
        sleep(interval_s)
        still = follower.still_running(running)
        if len(still) < len(running) or not running:
            return still


def follow(
    kernels: Sequence[KernelFolder],
    session: KaggleSession,
    *,
    timeout_s: float | None,
    interval_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, tuple[str, str]]:
    """Each kernel's state and failure message; with ``timeout_s``, polled until all finish or the time is up (one line per change)."""
    follower = Follower(session, say=log.info if timeout_s is not None else None)
    deadline = time.monotonic() + (timeout_s or 0.0)
    states: dict[str, tuple[str, str]] = {}
    pending = list(kernels)
    while True:
        for kernel in pending:
            states[kernel.name] = follower.poll(kernel)
        pending = [kernel for kernel in pending if states[kernel.name][0] not in FINISHED]
        if not pending or timeout_s is None or time.monotonic() >= deadline:
            return states
        sleep(interval_s)
