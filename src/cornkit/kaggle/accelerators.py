"""Kaggle's accelerator choice for a kernel: the ``machine_shape`` of the official client's push request.

``kaggle kernels push --accelerator NAME`` sends NAME as the request's ``machine_shape``, and
without the flag the client reads ``machine_shape`` from ``kernel-metadata.json``; cornkit
records it there at build time and passes it on push when asked. The names are the ones the
installed client knows (kaggle 2.2: kagglesdk's ``ApiSaveKernelRequest.machine_shape``, the CLI
help, its list of retired shapes); the server keeps the list, so a name outside it is refused
here rather than queued. Kaggle runs a retired shape on its replacement.

cornkit's notebooks use GPUs (every one they find) or the CPU; TPU shapes are refused.
"""

from __future__ import annotations

import logging

from ..errors import CornkitError

log = logging.getLogger(__name__)

GPU_ACCELERATORS = {
    "NvidiaTeslaT4": "two NVIDIA T4 GPUs, 16 GB each (Kaggle's 'GPU T4 x2')",
    "NvidiaTeslaP100": "retired: Kaggle runs the session on NvidiaTeslaT4 instead",
}
TPU_ACCELERATORS = ("TpuV5E8", "Tpu1VmV38", "TpuV38", "TpuV232", "TpuV2256")
RETIRED = frozenset({"NvidiaTeslaP100"})


def check_accelerator(name: str, *, warn: bool = True) -> str:
    """The client's spelling of accelerator ``name`` (any letter case), or an error naming the choices; ``warn`` of a retired one."""
    by_lower = {known.lower(): known for known in (*GPU_ACCELERATORS, *TPU_ACCELERATORS)}
    known = by_lower.get(name.strip().lower())
    if known in TPU_ACCELERATORS:
        raise CornkitError(f"--accelerator {name}: cornkit's notebooks run on GPUs or the CPU, not TPUs; choose {' or '.join(GPU_ACCELERATORS)}.")
    if known is None:
        raise CornkitError(f"--accelerator {name!r} is not a Kaggle machine shape the kaggle client knows; choose {' or '.join(GPU_ACCELERATORS)}.")
    if warn and known in RETIRED:
        log.warning("--accelerator %s is %s.", known, GPU_ACCELERATORS[known])
    return known
