"""2-process FSDP2 on CPU (gloo) under torchrun: losses, π_prox and gathered weights equal the
single-process trainer's; then rank 0 syncs the gathered weights to a fake-server *process* over a separate
gloo group (bucketed) and the logprob-parity probe passes.

This file is also the torchrun worker (``__main__``)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _batch(seed: int):
    import torch

    from asearcher.trainer.engine import Batch

    g = torch.Generator().manual_seed(seed)
    ids, masks, old, vers, adv = [], [], [], [], []
    for n in (40, 25, 60, 33, 18):
        ids.append(torch.randint(3, 250, (n,), generator=g))
        m = torch.zeros(n, dtype=torch.bool)
        m[n // 3:] = True
        masks.append(m)
        old.append(torch.where(m, -torch.rand(n, generator=g) * 5, torch.zeros(n)))
        vers.append(torch.where(m, torch.zeros(n, dtype=torch.long), -torch.ones(n, dtype=torch.long)))
        adv.append(torch.where(m, torch.randn(1, generator=g).expand(n), torch.zeros(n)))
    return Batch(ids, masks, old, vers, adv)


def _worker(out: str, server_url: str | None) -> None:
    import asyncio

    import torch

    from asearcher.config import TrainerConfig
    from asearcher.inference.remote import ParityProbe, RemoteEngine, model_scorer
    from asearcher.inference.remote_backends import SGLangBackend
    from asearcher.models import build_tiny
    from asearcher.trainer.dist_sync import DistributedWeightSync
    from asearcher.trainer.fsdp import Device, FSDPTrainEngine
    from asearcher.trainer.local import LocalTrainEngine

    torch.set_num_threads(1)
    # two PPO minibatches (two updates a step, each split over the ranks); π_prox from the first one's
    # training forward, the second's recomputed inside the step on every rank (step 1 passes no π_prox)
    cfg = TrainerConfig(lr=1e-3, autocast_bf16=False, max_tokens_per_mb=64, steps=2, grad_clip=0.5,
                        ppo_n_minibatches=2, prox_logp="train_forward")
    model, _ = build_tiny("tiny-qwen2", seed=0)
    ref_model = copy.deepcopy(model)
    fsdp = FSDPTrainEngine(model, cfg, Device.detect("cpu"))
    if fsdp.rank != 0:
        fsdp.follow()
        torch.distributed.destroy_process_group()
        return
    ref = LocalTrainEngine(ref_model, cfg)
    res: dict = {"loss": [], "grad_norm": [], "prox": []}
    for step in range(2):
        batch, ref_batch = _batch(step), _batch(step)
        batch.prox_logprobs = fsdp.compute_logprobs(batch)
        ref_batch.prox_logprobs = ref.compute_logprobs(ref_batch)
        res["prox"].append(max(float((a - b).abs().max()) for a, b in zip(batch.prox_logprobs, ref_batch.prox_logprobs, strict=True)))
        if step == 1:
            batch.prox_logprobs = ref_batch.prox_logprobs = None
        a, b = fsdp.train_step(batch), ref.train_step(ref_batch)
        res["loss"].append([a["loss"], b["loss"]])
        res["grad_norm"].append([a["grad_norm"], b["grad_norm"]])
        res["updates"] = [a["n_updates"], b["n_updates"], fsdp.version]
    full = fsdp.state_dict_for_sync()
    ref_sd = ref.state_dict_for_sync()
    res["keys_equal"] = sorted(full) == sorted(ref_sd)
    res["weight_diff"] = max(float((full[k] - ref_sd[k]).abs().max()) for k in ref_sd)
    res["changed"] = min(float((ref_sd[k] - v).abs().max()) for k, v in build_tiny("tiny-qwen2", 0)[0].state_dict().items())
    if server_url:
        _wait_health(server_url, None)

        async def sync() -> float:
            eng = RemoteEngine([server_url], SGLangBackend(), probe=ParityProbe(model_scorer(ref.model), [5, 6, 7]))
            sender = DistributedWeightSync("gloo", bucket_mb=0.05)
            await sender.connect(eng)
            await eng.pause()
            n = await sender.push(eng, fsdp.iter_full_params(), 2)
            eng._version = 2
            res["tensors_sent"], res["bytes_sent"] = n, sender.bytes_sent
            await eng.resume()
            return await eng.check_parity()
        res["probe_diff"] = asyncio.run(sync())
    fsdp.stop_followers()
    Path(out).write_text(json.dumps(res))
    torch.distributed.destroy_process_group()


def _free_port() -> int:
    from asearcher.trainer.dist_sync import free_port

    return free_port()


def _wait_health(url: str, proc: subprocess.Popen | None, timeout: float = 90.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=1.0, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


def test_fsdp_two_ranks_match_single_process_and_sync_over_gloo(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1", "HF_HUB_OFFLINE": "1"}
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "asearcher.inference.fake_server", "--model", "tiny-qwen2",
                               "--host", "127.0.0.1", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        out = tmp_path / "res.json"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
               "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), __file__, str(out), url]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
        assert proc.returncode == 0, proc.stderr[-3000:]
    finally:
        server.terminate()
        server.wait(timeout=20)
    res = json.loads(out.read_text())
    assert res["keys_equal"]
    for fs, lo in res["loss"]:
        assert fs == pytest.approx(lo, rel=1e-4, abs=1e-6)
    for fs, lo in res["grad_norm"]:
        assert fs == pytest.approx(lo, rel=1e-4)
    assert max(res["prox"]) < 1e-4
    assert res["updates"] == [2, 2, 2]  # two updates a step, one version a step
    assert res["weight_diff"] < 1e-5 and res["changed"] > 1e-4  # trained, and identically
    assert res["tensors_sent"] == 27 and res["bytes_sent"] > 0
    assert res["probe_diff"] < 1e-4  # the server runs exactly the trainer's weights


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
