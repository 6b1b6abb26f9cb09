"""Several processes on one machine, launched by torchrun: the process group, shards, gathers, agreement on failure.

A command runs under ``torchrun --nproc-per-node N -m cornkit ...`` (or with ``--processes N``,
which calls the same launcher, :mod:`torch.distributed.run`) as one *leader* and N-1 *helpers*.
Rank 0 leads: it runs the command exactly as a single process would (reads flags, loads data,
writes files, prints). When it reaches work that splits (CLIP feature extraction), it broadcasts
a job that every rank runs on its own shard, each on its own GPU (``LOCAL_RANK``) or as a CPU
process; the helpers do nothing else. A job ends with the ranks agreeing on failure (an
all-reduce of a flag) before they gather, so a broken input on any one rank ends every rank
with one message naming that rank, instead of a hang or a partial result.

Data-parallel training cannot agree that way: a rank that fails mid-epoch leaves the others
waiting inside DDP's gradient all-reduce, where no other message can reach them. Such work
runs through :func:`abandon_on_failure`: the failing rank reports its own error and exits, the
group is marked broken so that nobody waits on it again, and torchrun stops the other ranks.

Control messages and gathered results travel over gloo (CPU tensors), also on GPUs, where the
group adds NCCL for the CUDA tensors a distributed fine-tune reduces.
"""

from __future__ import annotations

import contextlib
import logging
import os
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.distributed as dist

from .errors import CornkitError, ReportedError, user_message


def rank() -> int:
    """This process's rank in the process group (0 without one)."""
    return dist.get_rank() if dist.is_initialized() else 0


def launched() -> bool:
    """Whether this process is a rank of a launch (also the only rank of a one-process torchrun launch)."""
    return dist.is_initialized()


def world_size() -> int:
    """How many processes share the work (1 without a process group)."""
    return dist.get_world_size() if dist.is_initialized() else 1


def local_world_size() -> int:
    """How many processes of the launch share this machine (torchrun's ``LOCAL_WORLD_SIZE``; 1 alone)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def shard(n: int, rank: int, world: int) -> range:
    """Rank ``rank``'s contiguous block of ``range(n)``: blocks differ in size by at most one and, in rank order, cover it."""
    return range(rank * n // world, (rank + 1) * n // world)


@contextlib.contextmanager
def process_group() -> Iterator[None]:
    """Join the process group torchrun describes in the environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``...), leave it after.

    On a machine with GPUs each rank takes GPU ``LOCAL_RANK`` as its ``cuda`` device, so there
    may not be more ranks on it than GPUs (NCCL refuses two ranks on one GPU).

    ``torch.distributed.nn`` is imported before the group exists: its functions take
    ``group=group.WORLD`` as a default argument, so a first import after ``init_process_group``
    (open_clip's loss module does it) would keep the group alive past ``destroy_process_group``,
    its gloo threads still running when the interpreter exits, where tearing them down races
    and aborts the rank ("terminate called without an active exception", exit status -6).
    """
    import torch.distributed.nn  # before init: see above

    backend = "gloo"
    if torch.cuda.is_available():
        gpus, ranks_here = torch.cuda.device_count(), local_world_size()
        if ranks_here > gpus:
            if int(os.environ.get("LOCAL_RANK", "0")):
                raise ReportedError("local rank 0 reported the error")
            raise CornkitError(f"torchrun started {ranks_here} processes on this machine, which has {gpus} GPU(s): start one per GPU (--gpus auto).")
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        backend = "cpu:gloo,cuda:nccl"
    dist.init_process_group(backend)
    try:
        yield
    finally:
        dist.destroy_process_group()


def agree_on_failure(failure: str | None) -> None:
    """Called by every rank with its own failure (or None); raises the same error on every rank if any failed.

    An all-reduce of a flag first, so that the common case costs one tiny collective; the
    messages are gathered only when something failed. The first failing rank is named.
    """
    flag = torch.tensor([0 if failure is None else 1])
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    if not flag.item():
        return
    failures: list[str | None] = [None] * world_size()
    dist.all_gather_object(failures, failure)
    failed = next(r for r, message in enumerate(failures) if message is not None)
    raise CornkitError(f"rank {failed} of {world_size()}: {failures[failed]}")


def failure_of(work: Callable[[], Any]) -> tuple[Any, str | None]:
    """Run ``work``; return its result and no failure, or no result and its one-line failure.

    A CornkitError becomes its message; anything else (a bug) prints its traceback here first,
    because the other ranks only ever see the line.
    """
    try:
        return work(), None
    except CornkitError as error:
        return None, user_message(error)
    except Exception as error:
        traceback.print_exc()
        return None, f"{type(error).__name__}: {error} (traceback above)"


def gather_everywhere(local: np.ndarray) -> np.ndarray:
    """Every rank's rows, concatenated in rank order, on every rank (each needs them to make the same choice)."""
    parts: list[np.ndarray] = [np.empty(0)] * world_size()
    dist.all_gather_object(parts, local)
    return np.concatenate([part for part in parts if part.size])


def leader_value(compute: Callable[[], Any]) -> Any:
    """The value ``compute`` returns on rank 0, on every rank (the others wait for it instead of computing their own)."""
    return _broadcast_from_leader(compute() if rank() == 0 else None)


_group_broken = False


def _collective_broke(error: BaseException) -> bool:
    """Whether ``error`` is a collective that failed because another rank is gone (gloo and NCCL raise plain RuntimeErrors too)."""
    return isinstance(error, dist.DistError) or (isinstance(error, RuntimeError) and any(name in str(error) for name in ("gloo", "NCCL")))


def abandon_on_failure(work: Callable[[], Any]) -> Any:
    """Run ``work``, full of collectives (DDP training), on this rank; a failure ends the launch instead of waiting for agreement.

    The other ranks may be waiting inside a collective that this rank will never join, so no
    message can reach them: this rank's own CornkitError is raised naming the rank (the command
    prints it), a collective that broke because another rank is gone ends this rank quietly
    (that rank printed why), and either way the group is marked broken so that the leader does
    not wait on it again; torchrun then stops the remaining ranks.
    """
    global _group_broken
    try:
        return work()
    except BaseException as error:  # a bug or an interrupt too: the others may be waiting in a collective
        _group_broken = True
        if _collective_broke(error):
            raise ReportedError(f"rank {rank()} of {world_size()} lost another rank: {error}") from error
        if isinstance(error, CornkitError) and not isinstance(error, ReportedError):
            raise CornkitError(f"rank {rank()} of {world_size()}: {user_message(error)}") from error
        raise


def gather_in_order(local: np.ndarray) -> np.ndarray | None:
    """Every rank's rows, concatenated in rank order, on rank 0 (None on the others); empty shards add nothing."""
    parts: list[np.ndarray] | None = [np.empty(0)] * world_size() if rank() == 0 else None
    dist.gather_object(local, parts, dst=0)
    return np.concatenate([part for part in parts if part.size]) if parts is not None else None


class Job(Protocol):
    """Work that every rank runs together (each on its shard); the leader's call returns the result."""

    def run(self, *leader_args: Any) -> Any: ...


@dataclass(frozen=True)
class _Stop:
    """The leader's last message: the command is over, with this exit status."""

    status: int


def _broadcast_from_leader(message: object) -> object:
    box = [message]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def run_everywhere(job: Job, *leader_args: Any) -> Any:
    """On the leader: hand ``job`` to every helper, run it here too (with ``leader_args``), return its result."""
    _broadcast_from_leader(job)
    return job.run(*leader_args)


def _serve() -> int:
    """A helper's life: run each job the leader sends until it stops; return the command's exit status."""
    while True:
        message = _broadcast_from_leader(None)
        if isinstance(message, _Stop):
            return message.status
        try:
            message.run()  # type: ignore[attr-defined]
        except CornkitError:
            if _group_broken:  # nobody else can report it
                raise
            # otherwise the leader received the same error and reports it


def run_as_rank(command: Callable[[], None]) -> None:
    """Run a command as this process's part of a torchrun launch: rank 0 leads it, the others serve its jobs.

    Only the leader prints and writes; a helper ends with the leader's status (a failed command
    raises :class:`ReportedError` there, whose message the leader has printed). After a failure
    in :func:`abandon_on_failure` the leader sends nothing more: the helpers may be inside a
    collective it will never join.
    """
    with process_group():
        if rank() != 0:
            with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # rank 0 prints; errors and bars go to stderr
                status = _serve()
            if status:
                raise ReportedError("the leader (rank 0) reported the error")
            return
        status = 1
        try:
            command()
            status = 0
        except CornkitError:
            status = 2
            raise
        finally:
            if not _group_broken:
                _broadcast_from_leader(_Stop(status))


@contextlib.contextmanager
def _launch_environment(processes: int) -> Iterator[None]:
    """Share the CPU cores among the processes (unless ``OMP_NUM_THREADS`` says otherwise) and keep torchrun's logs to errors."""
    threads = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = threads or str(max(1, (os.cpu_count() or 1) // processes))
    elastic = logging.getLogger("torch.distributed.elastic")
    level = elastic.level
    elastic.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        elastic.setLevel(level)
        if threads is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = threads


def launch(processes: int, argv: Sequence[str]) -> None:
    """Run ``python -m cornkit ARGV`` in ``processes`` processes on this machine, through torchrun's own launcher.

    A rank that failed with a CornkitError had rank 0 print it (exit status 2): that becomes a
    :class:`ReportedError`; any other failure is named with its exit status.
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    with _launch_environment(processes):
        try:
            run(parse_args(["--standalone", f"--nproc-per-node={processes}", "-m", "cornkit", *argv]))
        except ChildFailedError as error:
            failures = sorted(error.failures.items())
            if any(failure.exitcode == 2 for _, failure in failures):
                raise ReportedError("a rank reported the error") from None
            failed, failure = failures[0]
            raise CornkitError(f"rank {failed} of {processes} processes ended with exit status {failure.exitcode}; its output above says why.") from None
