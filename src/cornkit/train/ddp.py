"""Data-parallel training of a fastai Learner over the ranks of a launch: fastai's DistributedTrainer, i.e. Accelerate's DDP.

fastai's :class:`~fastai.distributed.DistributedTrainer` wraps the model with Accelerate
(``DistributedDataParallel``, BatchNorm converted to ``SyncBatchNorm``) and each DataLoader in a
:class:`~fastai.distributed.DistributedDL` that gives every rank its share of rank 0's shuffled
order. Adapted here, each found by running it: fastai sends that order through a CUDA tensor
(NCCL only), which fails on CPU processes, so it travels on the CPU (gloo, in every cornkit
process group); Accelerate is told when the ranks are CPU processes, and leaves a one-process
launch unwrapped, which fastai's ``after_fit`` did not expect; the callback is added for the
fit alone, without fastai's ``distrib_ctx`` setting up or tearing down a process group that
:mod:`cornkit.distributed` owns. Work a rank does on its own share (predictions, rank 0's
``lr_find``) runs with :func:`fastai_alone`, since fastai gathers across ranks whenever the
environment names several.

Every rank builds the same model from the same seed, so the ranks start equal (DDP also
copies rank 0's weights when it wraps) and stay equal: gradients are averaged at each step.
The global batch is ``batch_size x accum x world_size``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
from fastai.callback.progress import ProgressCallback
from fastai.data.load import DataLoader
from fastai.distributed import DistributedDL, DistributedTrainer
from fastai.learner import Learner
from fastai.torch_core import get_model
from torch import nn

from .. import distributed


class _ShardedDL(DistributedDL):
    """fastai's DistributedDL, with rank 0's order broadcast as a CPU tensor (gloo) instead of a CUDA one."""

    def _broadcast(self, t: list[int], rank: int) -> list[int]:
        order = torch.tensor(t, dtype=torch.long)
        torch.distributed.broadcast(order, rank)
        return order.tolist()


class DataParallel(DistributedTrainer):
    """fastai's DistributedTrainer with DataLoaders that work on CPU processes too, and a one-process launch (which Accelerate leaves unwrapped)."""

    def after_fit(self) -> None:
        self.learn.model, self.learn.dls.loaders = get_model(self.learn.model), self.old_dls

    def _wrap_dl(self, dl: DataLoader) -> DataLoader:
        if isinstance(dl, DistributedDL):
            return dl
        return _ShardedDL(dl, device=next(self.learn.model.parameters()).device)


@contextlib.contextmanager
def fastai_alone() -> Iterator[None]:
    """While the block runs, fastai works as in a single process: it gathers nothing across ranks.

    fastai decides from the environment (``WORLD_SIZE``, read by ``num_distrib``) whether to
    all-gather every prediction and loss; work a rank does on its own share must not.
    """
    world = os.environ.get("WORLD_SIZE")
    os.environ["WORLD_SIZE"] = "1"
    try:
        yield
    finally:
        if world is None:
            del os.environ["WORLD_SIZE"]
        else:
            os.environ["WORLD_SIZE"] = world


def has_batch_norm(model: nn.Module) -> bool:
    return any(isinstance(module, nn.modules.batchnorm._BatchNorm) for module in model.modules())


@contextlib.contextmanager
def data_parallel(learn: Learner) -> Iterator[None]:
    """While the block fits ``learn``, each rank trains on its share of every batch (nothing changes in a single process).

    BatchNorm statistics are synchronised across GPUs where the model has any (torch's
    SyncBatchNorm runs on GPUs only: CPU processes keep their own statistics, averaged weights
    aside); only rank 0 keeps its progress bar.
    """
    if not distributed.launched():
        yield
        return
    on_gpu = next(learn.model.parameters()).is_cuda
    trainer = DataParallel(sync_bn=on_gpu and has_batch_norm(learn.model), cpu=not on_gpu)
    learn.add_cb(trainer)
    bar = distributed.rank() != 0 and any(isinstance(cb, ProgressCallback) for cb in learn.cbs)
    if bar:
        learn.remove_cb(ProgressCallback)
    try:
        yield
    finally:
        learn.remove_cb(trainer)
        if bar:
            learn.add_cb(ProgressCallback())
