"""This process's place among the processes ``torchrun`` started: one abstraction for
``colorize`` (ranks share a film's segments) and ``train`` (DDP).

Torch-free at import, so the CLI can ask which rank speaks (:attr:`World.main`) without
loading torch; the methods that talk to other processes import ``torch.distributed``.

    world = World.from_env()          # RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE
    world.join("gloo")                # the process group, when there is more than one process
    plan = world.on_rank0(make_plan)  # rank 0 runs it; the others wait, and fail if it failed
    world.barrier()
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from filmcolor.errors import UserError

T = TypeVar("T")


class OtherRankError(UserError):
    """Rank 0 failed on the work the others waited for; the message is its error."""


@dataclass(frozen=True)
class World:
    """Rank and size of this process among torchrun's (rank 0 of 1 otherwise)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @classmethod
    def from_env(cls) -> World:
        """From torchrun's RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE (no process group
        is joined: see :meth:`join`)."""
        env = os.environ
        return cls(
            int(env.get("RANK", 0)),
            int(env.get("WORLD_SIZE", 1)),
            int(env.get("LOCAL_RANK", 0)),
            int(env.get("LOCAL_WORLD_SIZE", 1)),
        )

    @property
    def enabled(self) -> bool:
        """More than one process."""
        return self.size > 1

    @property
    def main(self) -> bool:
        """Rank 0: the process that plans, joins, writes checkpoints and speaks to the user."""
        return self.rank == 0

    def join(self, backend: str = "gloo", timeout: datetime.timedelta | None = None) -> World:
        """Join the process group the first time (a no-op for one process); returns self."""
        import torch.distributed as dist

        if self.enabled and not dist.is_initialized():
            kwargs = {} if timeout is None else {"timeout": timeout}
            dist.init_process_group(backend, **kwargs)
        return self

    def device(self, name: str) -> str:
        """Each rank its own GPU (``LOCAL_RANK``); on CPU, its share of the cores."""
        if not self.enabled:
            return name
        import torch

        if name in ("auto", "cuda") and torch.cuda.is_available():
            return f"cuda:{self.local_rank}"
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // self.local_size))
        return name

    def barrier(self) -> None:
        """Wait for every process (a no-op for one)."""
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()

    def on_rank0(self, work: Callable[[], T]) -> T | None:
        """Run ``work`` on rank 0 only and return its result there (None on the other ranks).

        The other ranks wait for it, then raise its error too (:class:`OtherRankError`) if it
        failed, so no rank is left waiting for a rank that gave up.
        """
        if not self.enabled:
            return work()
        import torch.distributed as dist

        if not self.main:
            box = [None]
            dist.broadcast_object_list(box, src=0)
            if box[0] is not None:
                raise OtherRankError(box[0])
            return None
        try:
            result = work()
        except BaseException as e:
            message = str(e) if isinstance(e, UserError) else f"rank 0 failed: {e!r}"
            dist.broadcast_object_list([message], src=0)
            raise
        dist.broadcast_object_list([None], src=0)
        return result
