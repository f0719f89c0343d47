"""The trainer process of a launched run (one per rank, started by torchrun, a Ray actor or srun).

Rank 0 builds the remote inference client (``inference.remote``), the train engine (single-process, or FSDP2
when ``WORLD_SIZE > 1``), the weight sync (disk or distributed) and the logprob-parity probe, then runs the
RL loop (``trainer.loop.rl_loop``); other ranks follow rank 0's collectives. Servers are found from
``--engine-urls`` (comma-separated) or ``@DIR``, a registry of ``server_*.addr`` files on shared storage.

Run: ``torchrun --nproc-per-node N -m asearcher.launch.worker --launch-config RUN/launch.yaml --engine-urls URLS``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from asearcher.config import TrainConfig, load_config
from asearcher.config.launch import LaunchConfig
from asearcher.errors import ConfigError, EngineError

log = logging.getLogger(__name__)

PROBE_TEXT = "Question: what is the capital of France? Answer:"

SMOKE_QUESTIONS = [("Which city is the capital of France?", "Paris"), ("Which river flows through Cairo?", "Nile"),
                   ("Who wrote Hamlet?", "William Shakespeare"), ("What is the largest planet?", "Jupiter")]
SMOKE_PASSAGES = [("France", "Paris is the capital of France."), ("Cairo", "The Nile flows through Cairo."),
                  ("Hamlet", "Hamlet is a tragedy written by William Shakespeare."),
                  ("Jupiter", "Jupiter is the largest planet of the Solar System.")]


def read_registry(spec: str, expected: int, timeout_s: float = 600.0) -> list[str]:
    """Server URLs: ``a,b`` as given, or ``@DIR``: wait for ``expected`` ``server_*.addr`` files there."""
    if not spec.startswith("@"):
        return [u for u in spec.split(",") if u]
    root = Path(spec[1:])
    deadline = time.monotonic() + timeout_s
    while True:
        files = sorted(root.glob("server_*.addr"))
        if len(files) >= expected:
            return [f"http://{f.read_text().strip()}" for f in files]
        if time.monotonic() > deadline:
            raise EngineError(f"only {len(files)} of {expected} servers registered in {root} after {timeout_s:.0f}s")
        time.sleep(1.0)


class _Items:
    """A state-dict stand-in whose ``items()`` yields lazily gathered tensors (FSDP full params)."""

    def __init__(self, it: Any):
        self._it = it

    def items(self) -> Any:
        return self._it


class DistributedSync:
    """``WeightSync`` over ``trainer.dist_sync.DistributedWeightSync`` (the side group is created lazily)."""

    def __init__(self, train: Any, backend: str, host: str, bucket_mb: float):
        from asearcher.trainer.dist_sync import DistributedWeightSync

        self.train = train
        self.sender = DistributedWeightSync(backend, host=host, bucket_mb=bucket_mb,
                                            device="cuda" if backend == "nccl" else "cpu")

    async def push(self, engine: Any, version: int) -> None:
        if self.sender.group is None:
            await self.sender.connect(engine)
        named = self.train.iter_full_params() if hasattr(self.train, "iter_full_params") else \
            self.train.state_dict_for_sync().items()
        await engine.update_weights(version, state_dict=_Items(named))


def trainer_scorer(train: Any) -> Any:
    """Probe scorer through the train engine itself (FSDP-safe: a collective ``compute_logprobs``)."""
    import torch

    from asearcher.trainer.engine import Batch

    def score(prompt: list[int], out: list[int], temperature: float) -> list[float]:
        ids = torch.tensor(prompt + out)
        n = len(ids)
        zeros = torch.zeros(n)
        batch = Batch([ids], [torch.zeros(n, dtype=torch.bool)], [zeros], [torch.full((n,), -1)], [zeros])
        return train.compute_logprobs(batch)[0][len(prompt):].tolist()

    return score


def smoke_parts(cfg: TrainConfig, engine: Any, tok: Any, train: Any, sync: Any) -> Any:
    """A toy QA task over four static passages: real agent, real reward, real loop."""
    from asearcher.agent import build_agent, run_episode
    from asearcher.rewards import QAReward
    from asearcher.tools import StaticTools
    from asearcher.trainer.loop import RLParts
    from asearcher.types import Example, Hit

    tools = StaticTools([Hit(id=f"p{i}", title=t, contents=c) for i, (t, c) in enumerate(SMOKE_PASSAGES)])
    examples = [Example(id=f"smoke{i}", question=q, answers=[a]) for i, (q, a) in enumerate(SMOKE_QUESTIONS)]
    agent = build_agent(cfg.agent, tok)

    async def episode(example: Example, valid: bool, tid: str) -> Any:
        return await run_episode(agent, engine, tools, example, valid_instruction=valid, trajectory_id=tid)

    return RLParts(train, engine, episode, QAReward("f1"), examples, sync)


def build_parts(lc: LaunchConfig, cfg: TrainConfig, urls: list[str]) -> tuple[Any, Any]:
    """(train engine, RL parts or None on follower ranks)."""
    import torch

    from asearcher.inference.remote import ParityProbe, RemoteEngine
    from asearcher.inference.remote_backends import make_backend
    from asearcher.models import load_model, load_tokenizer
    from asearcher.trainer.weight_sync import DiskSync

    world = int(os.environ.get("WORLD_SIZE", "1"))
    model = load_model(cfg.model.name)
    if world > 1:
        from asearcher.trainer.fsdp import Device, FSDPTrainEngine

        train: Any = FSDPTrainEngine(model, cfg.trainer, Device.detect(lc.trainer.device))
        if train.rank != 0:
            return train, None
    else:
        from asearcher.trainer.local import LocalTrainEngine

        if lc.trainer.device == "cuda" or (lc.trainer.device == "auto" and torch.cuda.is_available()):
            model = model.cuda()
        train = LocalTrainEngine(model, cfg.trainer)
    tok = load_tokenizer(cfg.model.name)
    kind = "vllm" if lc.servers.type == "vllm" else "sglang"  # the fake server speaks SGLang's API too
    engine = RemoteEngine(urls, make_backend(kind), tokenizer=tok, timeout_s=cfg.engine.timeout_s,
                          pause_mode=lc.servers.pause_mode)
    if lc.trainer.parity_probe:
        prompt = list(tok.encode(PROBE_TEXT, add_special_tokens=False))
        engine.set_parity_probe(ParityProbe(trainer_scorer(train), prompt, temperature=cfg.trainer.temperature,
                                            atol=lc.trainer.probe_atol))
    if lc.trainer.weight_sync == "disk":
        sync: Any = DiskSync(train, Path(cfg.out) / "weights")
    else:
        backend = lc.trainer.sync_backend
        if backend == "auto":
            backend = "nccl" if torch.cuda.is_available() and lc.trainer.device != "cpu" else "gloo"
        host = os.environ.get("ASEARCHER_SYNC_HOST", lc.host)  # rank 0's address as the servers see it
        sync = DistributedSync(train, backend, host, lc.trainer.bucket_mb)
    return train, smoke_parts(cfg, engine, tok, train, sync)


def run(lc: LaunchConfig, cfg: TrainConfig, urls: list[str]) -> dict[str, Any] | None:
    """Run this rank's part; rank 0 returns the loop's summary (also written to ``OUT/launch_summary.json``)."""
    from asearcher.monitoring import Tracker
    from asearcher.trainer.loop import rl_loop

    if lc.job == "train":
        return run_pipeline(lc, cfg, urls)
    train, parts = build_parts(lc, cfg, urls)
    if parts is None:
        train.follow()
        return None
    tracker = Tracker(cfg.out, jsonl=True, tensorboard=False)
    try:
        summary = asyncio.run(rl_loop(cfg, cfg.out, parts, tracker, progress=False))
    finally:
        tracker.close()
        if hasattr(train, "stop_followers"):
            train.stop_followers()
    summary.update(engine_version=parts.engine.version, servers=urls)
    path = Path(cfg.out) / "launch_summary.json"
    path.write_text(json.dumps(summary, indent=2, default=str))
    log.info("done: %s", json.dumps({k: summary[k] for k in ("steps", "version", "engine_version")}))
    return summary


def run_pipeline(lc: LaunchConfig, cfg: TrainConfig, urls: list[str]) -> dict[str, Any]:
    """``job: train``: the full ``asearcher train`` pipeline (world, eval, warm start, RL) against the launched
    servers with disk weight sync. Single trainer rank: the pipeline owns its single-process trainer."""
    from asearcher.trainer.pipeline import run_train

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 or lc.trainer.weight_sync != "disk":
        raise ConfigError("job: train runs the asearcher-train pipeline, which owns a single-process trainer "
                          "with disk sync: set trainer.procs_per_node=1 and trainer.weight_sync=disk "
                          "(FSDP and distributed sync run with job: smoke)")
    cfg = cfg.model_copy(update={"engine": cfg.engine.model_copy(update={"base_urls": urls}),
                                 "trainer": cfg.trainer.model_copy(update={"weight_sync": "disk"})})
    return run_train(cfg, cfg.out, progress=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="asearcher trainer rank of a launched run")
    p.add_argument("--launch-config", required=True, help="resolved launch config (written by asearcher launch)")
    p.add_argument("--engine-urls", required=True, help="comma-separated server URLs, or @REGISTRY_DIR")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    lc = load_config(LaunchConfig, args.launch_config)
    cfg = load_train_config(lc)
    urls = read_registry(args.engine_urls, lc.servers.replicas, lc.servers.startup_timeout_s)
    run(lc, cfg, urls)
    return 0


def load_train_config(lc: LaunchConfig) -> TrainConfig:
    """The train config of a launch: its file + overrides, with ``out`` defaulting to the launch's run dir
    and the engine type set from the servers."""
    engine_type = "vllm" if lc.servers.type == "vllm" else "sglang"
    base = [f"out={lc.out}"]
    if lc.job == "smoke":  # a random model rarely earns reward: keep zero-variance groups so steps happen
        base.append("rollout.drop_zero_variance=false")
    base += list(lc.train_overrides) + [f"engine.type={engine_type}"]
    return load_config(TrainConfig, lc.train_config, base)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
