"""CLIP feature extraction split over the processes of a torchrun launch, gathered back in order.

Rank 0 calls :func:`~cornkit.clip.features.encode_images` as it always does; under a launch
that hands an :class:`EncodeJob` to every rank (:func:`cornkit.distributed.run_everywhere`).
Each rank embeds its contiguous shard of the paths with its own copy of the model on its own
device, the ranks agree on whether any shard failed, and rank 0 gets the shards back in rank
order: the rows a single process computes, equal within float rounding (batches are cut
at other places). Each rank's progress counts its own shard.
"""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import distributed
from .features import encode_here
from .model import ClipSpec, LoadedClip, load_clip


@functools.lru_cache(maxsize=1)
def _helper_clip(spec: ClipSpec, device_type: str) -> LoadedClip:
    """A helper rank's copy of the leader's model, loaded once for all the jobs of a command (``cuda`` is this rank's GPU).

    The leader has printed load_clip's warnings (random weights); a helper does not repeat them.
    """
    with contextlib.redirect_stderr(io.StringIO()):
        return load_clip(spec, device_type)


@dataclass(frozen=True)
class EncodeJob:
    """Embed ``paths`` over every rank: what the leader broadcasts (the model by its spec, not its weights)."""

    spec: ClipSpec
    device_type: str
    paths: tuple[str, ...]
    batch_size: int
    num_workers: int | None
    desc: str

    def run(self, clip: LoadedClip | None = None) -> np.ndarray | None:
        """This rank's part: embed its shard, agree on failure, gather; the embeddings of every path on rank 0."""
        rank, world = distributed.rank(), distributed.world_size()
        mine = [Path(self.paths[i]) for i in distributed.shard(len(self.paths), rank, world)]

        def embed() -> np.ndarray:
            model = clip or _helper_clip(self.spec, self.device_type)
            desc = f"{self.desc}, rank {rank} of {world}"
            return encode_here(model, mine, batch_size=self.batch_size, num_workers=self.num_workers, desc=desc, position=rank)

        local, failure = distributed.failure_of(embed)
        distributed.agree_on_failure(failure)
        return distributed.gather_in_order(local)


def encode_on_every_rank(clip: LoadedClip, paths: Sequence[Path], *, batch_size: int, num_workers: int | None, desc: str) -> np.ndarray:
    """On rank 0: the embeddings of ``paths`` in order, computed by every rank of the launch on its shard."""
    job = EncodeJob(clip.spec, clip.device.type, tuple(str(p) for p in paths), batch_size, num_workers, desc)
    embeddings = distributed.run_everywhere(job, clip)
    assert embeddings is not None, "run_everywhere returns the gathered rows on rank 0"
    return embeddings
