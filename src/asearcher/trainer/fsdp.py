"""FSDP2 train engine: the single-process ``LocalTrainEngine`` math sharded over ranks with ``fully_shard``
(one unit per decoder layer + the root), optional bf16 mixed precision, full-state gathers for weight sync.

Run under torchrun (``OMP_NUM_THREADS=1 torchrun --standalone --nproc-per-node N ...``). Rank 0 owns the RL
loop and calls the ``TrainEngine`` methods; every other rank runs ``follow()``, which receives each call over a
gloo control group and joins its collectives, so ``trainer.loop.rl_loop`` runs unchanged on rank 0.

A device abstraction (``Device``) keeps the same code on CPU (gloo, explicit CPU mesh: notes/engines.md §5
pytorch#132471) and GPUs (NCCL). Rows are split over ranks by tokens; each rank's loss is divided by the
batch's global mask-token count and scaled by the world size (FSDP averages gradients), so the update equals
the single-process one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.distributed as dist

from asearcher.config import TrainerConfig
from asearcher.precision import resolve_bf16
from asearcher.trainer.engine import Batch
from asearcher.trainer.local import LocalTrainEngine, pack_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Device:
    """Where a rank computes and which collective backend it uses."""

    type: Literal["cpu", "cuda"]
    backend: Literal["gloo", "nccl"]
    index: int = 0

    @classmethod
    def detect(cls, prefer: str = "auto") -> Device:
        """``cuda``/NCCL when GPUs exist (``LOCAL_RANK`` picks one), else ``cpu``/gloo."""
        if prefer == "cuda" or (prefer == "auto" and torch.cuda.is_available()):
            return cls("cuda", "nccl", int(os.environ.get("LOCAL_RANK", 0)))
        return cls("cpu", "gloo")

    @property
    def torch(self) -> torch.device:
        return torch.device(self.type, self.index) if self.type == "cuda" else torch.device("cpu")

    def setup(self) -> None:
        """Init the default process group (from the torchrun env) on this device."""
        if self.type == "cuda":
            torch.cuda.set_device(self.index)
        if not dist.is_initialized():
            dist.init_process_group(self.backend)

    def synchronize(self) -> None:
        if self.type == "cuda":
            torch.cuda.synchronize()


def _balanced_split(lengths: list[int], world: int) -> list[list[int]]:
    """Row indices per rank, longest first onto the least-loaded rank (token balance)."""
    loads, parts = [0] * world, [[] for _ in range(world)]
    for i in sorted(range(len(lengths)), key=lambda k: -lengths[k]):
        r = loads.index(min(loads))
        parts[r].append(i)
        loads[r] += lengths[i]
    return [sorted(p) for p in parts]


class FSDPTrainEngine(LocalTrainEngine):
    """``TrainEngine`` over a model sharded with FSDP2. Construct on every rank with the same model
    (same seed/checkpoint); rank 0 drives, other ranks call ``follow()``."""

    def __init__(self, model: Any, cfg: TrainerConfig, device: Device | None = None, **kw: Any):
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        self.dev = device or Device.detect()
        self.dev.setup()
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        # Control messages (ops + batches as pickles) on gloo, whatever the data backend is.
        self.control = dist.new_group(backend="gloo")
        model = model.float().to(self.dev.torch)
        mesh = init_device_mesh(self.dev.type, (self.world,))
        bf16 = resolve_bf16(cfg.autocast_bf16, self.dev.torch, "FSDP2 bf16 parameters")
        mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16 else None
        opts = {"mesh": mesh, **({"mp_policy": mp} if mp else {})}
        for layer in _decoder_layers(model):
            fully_shard(layer, **opts)
        fully_shard(model, **opts)
        # resolved once here: the base class would otherwise resolve (and log) "auto" a second time
        super().__init__(model, cfg.model_copy(update={"autocast_bf16": bf16}), **kw)
        self.device = self.dev.torch

    def _autocast(self):
        import contextlib

        return contextlib.nullcontext()  # FSDP's MixedPrecisionPolicy casts instead of autocast

    # ---- rank-0 → followers ------------------------------------------------------------------------
    def _command(self, op: str, *args: Any) -> None:
        if self.rank == 0 and self.world > 1:
            dist.broadcast_object_list([(op, args)], src=0, group=self.control)

    def follow(self) -> None:
        """Non-zero ranks: execute rank 0's calls until it sends ``stop``."""
        while True:
            box: list[Any] = [None]
            dist.broadcast_object_list(box, src=0, group=self.control)
            op, args = box[0]
            if op == "stop":
                return
            result = getattr(self, "_" + op)(*args)
            if op == "iter_full_params":
                for _ in result:
                    pass

    def stop_followers(self) -> None:
        self._command("stop")

    # ---- forward: the root module's forward, so FSDP's root hooks gather embeddings and head ---------
    def _forward_logprobs(self, ids: list[torch.Tensor], grad: bool,
                          masks: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        # every position's logits (``masks`` is not used: the head runs inside the root module's forward)
        lengths = [len(x) for x in ids]
        flat = torch.cat(ids).to(self.device).unsqueeze(0)
        pos = torch.cat([torch.arange(n) for n in lengths]).to(self.device).unsqueeze(0)
        logits = self.model(input_ids=flat, position_ids=pos, use_cache=False).logits[0]
        labels = torch.roll(flat[0], -1)
        lp = torch.log_softmax(logits.float() / (self.cfg.temperature or 1.0), dim=-1).gather(-1, labels[:, None])[:, 0]
        out, start = [], 0
        for n in lengths:
            row = lp[start:start + n]
            out.append(torch.cat([row.new_zeros(1), row[:-1]]))
            start += n
        return out

    def _my_microbatches(self, batch: Batch) -> tuple[list[int], list[list[int]], int]:
        """This rank's rows, its micro-batches, and the max micro-batch count over ranks (all ranks must
        run the same number of forwards: FSDP all-gathers are collectives)."""
        mine = _balanced_split([len(x) for x in batch.ids], self.world)[self.rank]
        mbs = [[mine[j] for j in mb] for mb in pack_rows([len(batch.ids[i]) for i in mine], self.cfg.max_tokens_per_mb)]
        n = torch.tensor([len(mbs)])
        dist.all_reduce(n, op=dist.ReduceOp.MAX, group=self.control)
        return mine, mbs, int(n)

    def compute_logprobs(self, batch: Batch) -> list[torch.Tensor]:
        self._command("compute_logprobs", batch)
        return self._compute_logprobs(batch)

    def _compute_logprobs(self, batch: Batch) -> list[torch.Tensor]:
        self.model.eval()
        _, mbs, n = self._my_microbatches(batch)
        mine: dict[int, torch.Tensor] = {}
        with torch.no_grad():
            for k in range(n):
                if k < len(mbs):
                    for i, lp in zip(mbs[k], self._forward_logprobs([batch.ids[i] for i in mbs[k]], False), strict=True):
                        mine[i] = lp.float().cpu()
                else:
                    self._forward_logprobs([batch.ids[0][:2]], False)  # keep the collectives in step
        gathered: list[Any] = [None] * self.world
        dist.all_gather_object(gathered, mine, group=self.control)
        return [next(g[i] for g in gathered if i in g) for i in range(len(batch))]

    def train_step(self, batch: Batch, loss: Literal["ppo", "sft"] = "ppo") -> dict[str, float]:
        self._command("train_step", batch, loss)
        return self._train_step(batch, loss)

    def _logprobs_now(self, batch: Batch) -> list[torch.Tensor]:
        return self._compute_logprobs(batch)  # every rank is inside the same train step: no command

    def _update(self, batch: Batch, loss: str, fused_prox: bool) -> tuple[float, float, dict[str, float], int]:
        """``LocalTrainEngine._update`` over this rank's rows (the minibatch's rows are split over ranks by
        tokens); the loss-stat sums are all-reduced, so every rank returns the global ones."""
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        n_tokens = max(1, batch.n_loss_tokens)  # global: every rank holds the whole batch
        _, mbs, n = self._my_microbatches(batch)
        keys = ["loss", "n", "kept", "clipped", "w_sum", "behav_kl_sum" if loss == "ppo" else "nll_sum", "ratio_sum"]
        sums = torch.zeros(len(keys), dtype=torch.float64)
        for k in range(n):
            if k < len(mbs):
                lps = self._forward_logprobs([batch.ids[i] for i in mbs[k]], grad=True)
                mb_loss, st = self._mb_loss(batch, mbs[k], lps, loss, n_tokens, fused_prox)
                sums += torch.tensor([float(mb_loss.detach())] + [st.get(key, 0.0) for key in keys[1:]],
                                     dtype=torch.float64)
            else:
                mb_loss = self._forward_logprobs([batch.ids[0][:2]], grad=True)[0].sum() * 0.0
            # FSDP averages gradients over ranks; each rank's loss is already over the global token count,
            # so scale by the world size to get the sum (a divide factor of 1 needs PREMUL_SUM: not on gloo).
            (mb_loss * self.world).backward()
        params = [p for p in self.model.parameters() if p.requires_grad]
        norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        norm = norm.full_tensor() if hasattr(norm, "full_tensor") else norm
        self.optimizer.step()
        dist.all_reduce(sums, group=self.control)
        total = dict(zip(keys, sums.tolist(), strict=True))
        return total.pop("loss"), float(norm), total, n * self.world

    # ---- weights ----------------------------------------------------------------------------------------
    def iter_full_params(self) -> Iterator[tuple[str, torch.Tensor]]:
        """Lazily all-gather each parameter/buffer (collective: followers gather in step). For bucketed
        distributed sync: ``DistributedWeightSync.push(engine, fsdp.iter_full_params(), version)``."""
        self._command("iter_full_params")
        return self._iter_full_params()

    def _iter_full_params(self) -> Iterator[tuple[str, torch.Tensor]]:
        for name, t in self.model.state_dict().items():
            full = t.full_tensor() if hasattr(t, "full_tensor") else t
            yield name, full.detach()  # stays on the device: NCCL sends it from there

    def state_dict_for_sync(self) -> dict[str, torch.Tensor]:
        """Full weights on rank 0 (other ranks get ``{}``)."""
        self._command("state_dict_for_sync")
        return self._state_dict_for_sync()

    def _state_dict_for_sync(self) -> dict[str, torch.Tensor]:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(self.model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))

    def save_checkpoint(self, path: str | Path, weights_only: bool = False) -> None:
        self._command("save_checkpoint", str(path), weights_only)
        self._save_checkpoint(str(path), weights_only)

    def _save_checkpoint(self, path: str, weights_only: bool) -> None:
        import json

        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        sd = self._state_dict_for_sync()
        osd = None if weights_only else get_optimizer_state_dict(
            self.model, self.optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if self.rank == 0:
            p = Path(path)
            p.mkdir(parents=True, exist_ok=True)
            self.model.save_pretrained(p, state_dict=sd)
            if not weights_only:
                torch.save({"optimizer": osd, "scheduler": self.scheduler.state_dict()}, p / "optimizer.pt")
                (p / "trainer_state.json").write_text(json.dumps({"version": self.version}))
        dist.barrier(group=self.control)

    def load_checkpoint(self, path: str | Path) -> None:
        self._command("load_checkpoint", str(path))
        self._load_checkpoint(str(path))

    def _load_checkpoint(self, path: str) -> None:
        import json

        from safetensors.torch import load_file
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        p = Path(path)
        state: dict[str, torch.Tensor] = {}
        for f in sorted(p.glob("*.safetensors")):
            state.update(load_file(str(f)))
        if not state:
            raise FileNotFoundError(f"{p}: no *.safetensors weights (is this a checkpoint directory?)")
        opts = StateDictOptions(full_state_dict=True, strict=False)
        set_model_state_dict(self.model, state, options=opts)
        opt = torch.load(p / "optimizer.pt", weights_only=False)
        set_optimizer_state_dict(self.model, self.optimizer, opt["optimizer"], options=opts)
        self.scheduler.load_state_dict(opt["scheduler"])
        self.version = json.loads((p / "trainer_state.json").read_text())["version"]


def _decoder_layers(model: Any) -> list[Any]:
    """The repeated transformer blocks (``model.model.layers`` for Llama/Qwen2-style HF models)."""
    base = getattr(model, model.base_model_prefix, model)
    layers = getattr(base, "layers", None)
    if layers is None:
        raise ValueError(f"{type(model).__name__}: cannot find decoder layers to shard (expected .model.layers)")
    return list(layers)
