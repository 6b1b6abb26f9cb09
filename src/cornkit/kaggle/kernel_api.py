"""One kernel at a time through the official client: push, state, and the account's weekly GPU quota.

The client reports a refused push in the response's ``error`` (its own exit code stays 0), so
every push is checked here; a refusal for the number of concurrent GPU sessions ("Maximum batch
GPU session count of 2 reached"; the number has changed over the years) becomes a
:class:`SessionLimit`, which :mod:`cornkit.kaggle.fanout` waits out. The quota is the client's
``quota_view`` (kagglesdk's ``GetAcceleratorQuotaStatistics``). Pushes and status calls retry a
transient failure (:func:`cornkit.kaggle.client.kaggle_call` with ``retry=True``): a fan-out
waits for hours, and one busy answer must not end it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import CornkitError
from .accelerators import check_accelerator
from .client import KaggleSession, kaggle_call
from .kernels import KernelFolder

SESSION_LIMIT = re.compile(r"session count", re.IGNORECASE)
"""How Kaggle words a push refused for the account's concurrent GPU sessions."""
FINISHED = frozenset({"COMPLETE", "ERROR", "CANCEL_ACKNOWLEDGED"})


class SessionLimit(CornkitError):
    """Kaggle refused a push because the account already runs as many GPU sessions as it may: retry when one finishes."""


def _not_found(kernel: KernelFolder) -> str:
    return f"Kernel {kernel.kernel_id} does not exist yet: push it with `cornkit kernels push {kernel.name}`."


def push_kernel(kernel: KernelFolder, session: KaggleSession, accelerator: str | None = None) -> Any:
    """Send the kernel with the official client; return its response (``url``, ``version_number``).

    ``accelerator`` overrides the metadata's ``machine_shape`` for this push, as the client's
    own ``kernels push --accelerator`` does.
    """
    owner = kernel.kernel_id.split("/")[0]
    response = kaggle_call(
        session,
        f"push kernel {kernel.kernel_id}",
        session.api.kernels_push,
        str(kernel.path),
        acc=check_accelerator(accelerator) if accelerator else None,
        forbidden=f"Your account may not write {kernel.kernel_id}: rebuild with --user set to your Kaggle username (not {owner!r}).",
        retry=True,
    )
    if response.error:
        refused = SessionLimit if SESSION_LIMIT.search(response.error) else CornkitError
        raise refused(f"Kaggle refused kernel {kernel.kernel_id}: {response.error}")
    return response


def kernel_status(kernel: KernelFolder, session: KaggleSession) -> tuple[str, str]:
    """The kernel's latest run state (QUEUED, RUNNING, COMPLETE, ERROR, ...) and failure message."""
    response = kaggle_call(
        session, f"get the status of kernel {kernel.kernel_id}", session.api.kernels_status, kernel.kernel_id, not_found=_not_found(kernel), retry=True
    )
    return response.status.name, response.failure_message or ""


@dataclass(frozen=True)
class GpuQuota:
    """The account's GPU hours this week, as Kaggle counts them."""

    used_h: float
    total_h: float
    refresh: datetime | None

    @property
    def left_h(self) -> float:
        return max(0.0, self.total_h - self.used_h)

    def line(self) -> str:
        resets = f" (resets {self.refresh:%Y-%m-%d %H:%M} UTC)" if self.refresh else ""
        return f"GPU quota: {self.left_h:.1f} h left of {self.total_h:.1f} h this week{resets}"


def gpu_quota(session: KaggleSession) -> GpuQuota | None:
    """The weekly GPU quota, or None when Kaggle gives none for this account."""
    response = kaggle_call(session, "read the weekly GPU quota", session.api.quota_view)
    quota = response.gpu_quota
    if quota is None or quota.total_time_allowed is None:
        return None
    used = quota.time_used.total_seconds() if quota.time_used is not None else 0.0
    return GpuQuota(used_h=used / 3600, total_h=quota.total_time_allowed.total_seconds() / 3600, refresh=response.quota_refresh_time)
