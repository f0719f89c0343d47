"""Async RL on a CPU: the trainer's step while the in-process engine keeps generating, with the cores
shared (``trainer.loop.CoreShare``: each side gets half the cores while the trainer computes) versus both
sides on all cores (what ran before the share was set per thread: ``torch.set_num_threads`` in the main
thread never reached the engine's loop thread or the trainer's worker thread, so 2 + 2 threads ran on 2
cores).

The bundled SmolLM2-135M, the default trainer settings (bf16 autocast, rows one by one) on real oracle
trajectories of the default world, and the default engine (bf16 autocast, batch of 8) decoding 8 requests
continuously; the two settings alternate so machine drift hits both.

    python bench/rl_threads.py --quick   # a batch of 2 trajectories, once each way (< 1 min idle)
    python bench/rl_threads.py           # a batch of 8 (the warm start's), 3 times each way

Prints the train step time and the engine's decode rate during it; the last line is
``rl_threads_train_speedup: X`` (train step time on all cores / with the shared cores).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import copy
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a batch of 2 trajectories, once each way")
    ap.add_argument("--reps", type=int, default=3, help="train steps each way (default 3)")
    args = ap.parse_args()
    size, reps = (2, 1) if args.quick else (8, args.reps)

    from sft_step import oracle_batches

    from asearcher.inference.hf import HFEngine
    from asearcher.models import load_model, load_tokenizer
    from asearcher.trainer.local import LocalTrainEngine
    from asearcher.trainer.loop import CoreShare
    from asearcher.types import GenerateRequest

    batches, cfg = oracle_batches(1, size)
    batch = batches[0]
    model = load_model(cfg.model.name)
    tok = load_tokenizer(cfg.model.name)
    trainer = LocalTrainEngine(copy.deepcopy(model), cfg.trainer, lr=cfg.sft.lr)
    engine = HFEngine(model, tok, max_batch=cfg.engine.max_batch, autocast_bf16=True, seed=0)
    cores = os.cpu_count() or 2
    shared = CoreShare(engine, max(1, cores // 2), cores, after_threads=cores)
    unshared = CoreShare(engine, cores, cores, after_threads=cores)
    prompts = [list(batch.ids[i][:200].tolist()) for i in range(len(batch))]
    pool = concurrent.futures.ThreadPoolExecutor(1)  # one long-lived trainer thread, as asyncio.to_thread's

    async def generate_forever(stop: asyncio.Event, k: int) -> None:
        while not stop.is_set():
            await engine.generate(GenerateRequest(input_ids=prompts[k % len(prompts)], max_new_tokens=48,
                                                  temperature=0.7))

    async def one(share: CoreShare) -> tuple[float, float]:
        stop = asyncio.Event()
        gens = [asyncio.create_task(generate_forever(stop, k)) for k in range(cfg.engine.max_batch)]
        await asyncio.sleep(2.0)  # the engine's batch fills
        share.training(True)
        t0, d0 = time.perf_counter(), engine.stats.decode_tokens
        await asyncio.get_running_loop().run_in_executor(pool, share.run, trainer.train_step, batch, "sft")
        dt, decoded = time.perf_counter() - t0, engine.stats.decode_tokens - d0
        share.training(False)
        stop.set()
        await asyncio.gather(*gens)
        return dt, decoded / dt

    async def bench() -> dict[str, list[tuple[float, float]]]:
        out: dict[str, list[tuple[float, float]]] = {"all cores": [], "shared": []}
        await one(shared)  # warm-up (allocator, kernels)
        for _ in range(reps):
            out["all cores"].append(await one(unshared))
            out["shared"].append(await one(shared))
        await engine.aclose()
        return out

    res = asyncio.run(bench())
    mean = {k: (sum(t for t, _ in v) / len(v), sum(r for _, r in v) / len(v)) for k, v in res.items()}
    print(f"train step: {len(batch)} oracle trajectories, {batch.n_tokens} tokens; engine decoding "
          f"{cfg.engine.max_batch} requests meanwhile; {cores} cores, {reps} step(s) each way")
    for k, (t, r) in mean.items():
        print(f"{k:>10}: train step {t:6.2f} s ({batch.n_tokens / t:5.0f} tokens/s), engine decode {r:5.1f} tokens/s")
    print(f"rl_threads_train_speedup: {mean['all cores'][0] / mean['shared'][0]:.2f}")


if __name__ == "__main__":
    main()
