"""Distributed weight sync: the trainer (rank 0) broadcasts weights to inference servers over a separate
process group (gloo on CPU, NCCL on GPUs), in buckets. Disk sync (``trainer.weight_sync``) stays the fallback.

Talks to: the servers' HTTP control API through ``inference.remote.RemoteEngine`` (SGLang's
``/init_weights_update_group`` + ``/update_weights_from_distributed``; the fake server implements both), and
``torch.distributed`` for the data. The side group is independent of the trainer's own default group
(``shared/notes/engines.md`` §6): TCPStore + PrefixStore + ProcessGroupGloo; for NCCL the group is built the
way SGLang builds its side (rendezvous store + ``PrefixStore(group_name)``), so the two ends match.

Group layout (AReaL): trainer rank 0; server k (tensor-parallel size tp) gets ranks ``1 + k·tp …``;
``world_size = 1 + Σ tp``. Per bucket: one HTTP call per server announcing names/dtypes/shapes, while rank 0
broadcasts each tensor of the bucket in the same order.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from asearcher.errors import EngineError
from asearcher.inference.remote_backends import TensorSpec

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from asearcher.inference.remote import RemoteEngine

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A free TCP port on ``host`` (bound then released)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def buckets(named: Iterable[tuple[str, torch.Tensor]], bucket_bytes: int) -> Iterator[list[tuple[str, torch.Tensor]]]:
    """Group tensors in order into buckets of at most ``bucket_bytes`` (a larger tensor gets its own).
    Lazy: with FSDP the next bucket's ``full_tensor()`` gathers run only when it is requested."""
    bucket: list[tuple[str, Any]] = []
    size = 0
    for name, t in named:
        n = t.numel() * t.element_size()
        if bucket and size + n > bucket_bytes:
            yield bucket
            bucket, size = [], 0
        bucket.append((name, t))
        size += n
    if bucket:
        yield bucket


def side_group(backend: str, host: str, port: int, rank: int, world_size: int, group_name: str,
               timeout_s: float = 300.0) -> Any:
    """Join (rank > 0) or host (rank 0) a process group that is not the default group."""
    import torch.distributed as dist

    timeout = timedelta(seconds=timeout_s)
    store = dist.TCPStore(host, port, world_size, is_master=rank == 0, timeout=timeout)
    prefixed = dist.PrefixStore(group_name, store)
    if backend == "gloo":
        return dist.ProcessGroupGloo(prefixed, rank, world_size, timeout)
    if backend == "nccl":
        # What SGLang's init_custom_process_group does on its side (private torch API, GPU only).
        from torch.distributed.distributed_c10d import _new_process_group_helper, _world

        pg, _ = _new_process_group_helper(world_size, rank, [], "nccl", prefixed, group_name=group_name,
                                          timeout=timeout)
        _world.pg_group_ranks[pg] = {i: i for i in range(world_size)}
        return pg
    raise EngineError(f"weight-sync backend {backend!r}: choose gloo (CPU) or nccl (GPU)")


class DistributedWeightSync:
    """Rank-0 sender. ``await connect(engine)`` once, then ``RemoteEngine.update_weights(state_dict=...)``
    calls ``push`` (``connect`` attaches itself to the engine)."""

    def __init__(self, backend: str = "gloo", host: str = "127.0.0.1", port: int | None = None,
                 group_name: str = "weight_update_group", bucket_mb: float = 256.0, tp_size: int = 1,
                 wire_dtype: str | None = None, device: str = "cpu"):
        self.backend = backend
        self.host = host
        self.port = port
        self.group_name = group_name
        self.bucket_bytes = int(bucket_mb * 2**20)
        self.tp_size = tp_size
        self.wire_dtype = wire_dtype
        """Cast before sending (e.g. ``bfloat16`` for bf16 servers: half the bytes); None = as is."""
        self.device = device
        self.group: Any = None
        self.bytes_sent = 0

    async def connect(self, engine: RemoteEngine) -> None:
        """Create the side group with every server of ``engine`` (their HTTP calls and our store run at
        the same time: doing them one after the other deadlocks)."""
        n = len(engine.base_urls)
        world = 1 + n * self.tp_size
        port = self.port or free_port(self.host)
        calls = [engine.backend.control("init_group", master_address=self.host, master_port=port,
                                        rank_offset=1 + k * self.tp_size, world_size=world,
                                        group_name=self.group_name, backend=self.backend)[0] for k in range(n)]
        http = asyncio.gather(*(engine.call(k, c) for k, c in enumerate(calls)))
        own = asyncio.to_thread(side_group, self.backend, self.host, port, 0, world, self.group_name)
        self.group, _ = await asyncio.gather(own, http)
        engine.attach_weight_sender(self)
        log.info("weight-sync group %s: %d servers, world %d, %s on %s:%d", self.group_name, n, world,
                 self.backend, self.host, port)

    def _send(self, tensors: list[Any]) -> None:
        for t in tensors:
            self.group.broadcast(t, 0).wait()
            self.bytes_sent += t.numel() * t.element_size()

    def _wire(self, t: Any) -> Any:
        import torch

        t = t.detach()
        if self.wire_dtype is not None:
            t = t.to(getattr(torch, self.wire_dtype))
        return t.to(self.device).contiguous()

    async def push(self, engine: RemoteEngine, named: Iterable[tuple[str, Any]], version: int) -> int:
        """Broadcast all tensors bucket by bucket; returns the number of tensors sent."""
        if self.group is None:
            raise EngineError("DistributedWeightSync.push before connect(engine)")
        sent = 0
        for bucket in buckets(named, self.bucket_bytes):
            tensors = [self._wire(t) for _, t in bucket]
            specs = [TensorSpec(name, str(t.dtype).removeprefix("torch."), list(t.shape))
                     for (name, _), t in zip(bucket, tensors, strict=True)]
            http = asyncio.ensure_future(engine.broadcast(engine.backend.control(
                "dist_update", specs=specs, version=version, group_name=self.group_name)))
            await asyncio.gather(asyncio.to_thread(self._send, tensors), http)
            sent += len(tensors)
        return sent

    async def close(self, engine: RemoteEngine) -> None:
        """Tell the servers to drop the group."""
        await engine.broadcast(engine.backend.control("destroy_group", group_name=self.group_name))
        self.group = None
