"""How the in-process engine's throughput scales with ``engine.max_batch`` (sequences decoded together).

The workload is one agent turn for each of ``--requests`` concurrent episodes (the paper's system prompt and
a question, ``--gen`` sampled tokens each), run on the same model with each batch size in turn — first in
ascending, then (full run) in descending order, so machine drift hits every size alike. Throughput =
generated tokens / wall time, prefill included. On a CPU, decode reads every weight once per step whatever
the batch, so a larger batch buys tokens until compute takes over; `asearcher train` uses ``max_batch=32``.

    .venv/bin/python bench/engine_batch.py --quick   # SmolLM2-135M, 16 requests x 16 tokens, batch 4 vs 16 (< 1 min)
    .venv/bin/python bench/engine_batch.py           # 32 requests x 48 tokens, batch 1, 4, 8, 16, 32, twice

The last line is the headline: ``batch_<largest>_over_<smallest>_tokens_per_s: <ratio>``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="16 requests x 16 tokens, batch 4 vs 16, once")
    p.add_argument("--model", default="smollm2-135m", help="registry name or path")
    p.add_argument("--requests", type=int, default=None, help="concurrent requests (default 32; quick 16)")
    p.add_argument("--gen", type=int, default=None, help="generated tokens per request (default 48; quick 16)")
    p.add_argument("--batches", default=None, help="comma-separated max_batch values (default 1,4,8,16,32; "
                                                     "quick 4,16)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    return p.parse_args()


async def one_round(engine, prompt: list[int], requests: int, gen: int, seed: int) -> tuple[float, int]:
    """(seconds, generated tokens) of ``requests`` concurrent one-turn requests."""
    from asearcher.types import GenerateRequest

    reqs = [GenerateRequest(input_ids=prompt, max_new_tokens=gen, temperature=1.0, seed=seed + i)
            for i in range(requests)]
    t0 = time.perf_counter()
    outs = await asyncio.gather(*(engine.generate(r) for r in reqs))
    return time.perf_counter() - t0, sum(len(o.output_ids) for o in outs)


async def run(args: argparse.Namespace) -> None:
    import torch
    from engine import render_prompt

    from asearcher.inference.hf import HFEngine
    from asearcher.models import load_model, load_tokenizer

    torch.set_num_threads(args.threads)
    requests = args.requests or (16 if args.quick else 32)
    gen = args.gen or (16 if args.quick else 48)
    sizes = [int(x) for x in (args.batches or ("4,16" if args.quick else "1,4,8,16,32")).split(",")]
    if len(sizes) < 2 or any(b < 1 for b in sizes):
        raise SystemExit("--batches needs at least two sizes ≥ 1, e.g. 4,16")
    model, tok = load_model(args.model), load_tokenizer(args.model)
    prompt = render_prompt(tok)
    print(f"model: {args.model} (fp32, {args.threads} threads); {requests} requests of a {len(prompt)}-token "
          f"prompt, {gen} sampled tokens each; max_batch {sizes}; quick={args.quick}")

    async def measure(size: int, seed: int) -> tuple[float, int]:
        engine = HFEngine(model, tok, max_batch=size, seed=0, prefix_cache=False)
        try:
            await one_round(engine, prompt[:64], min(size, 4), 4, seed=999)  # warm-up of this engine's shapes
            return await one_round(engine, prompt, requests, gen, seed)
        finally:
            await engine.aclose()

    order = sizes if args.quick else sizes + sizes[::-1]
    acc = {b: [0.0, 0] for b in sizes}
    for k, size in enumerate(order):
        secs, toks = await measure(size, seed=100 * k)
        acc[size][0] += secs
        acc[size][1] += toks
        print(f"  max_batch {size:>3}: {toks} tokens in {secs:6.1f} s = {toks / secs:6.1f} tok/s")
    rate = {b: acc[b][1] / acc[b][0] for b in sizes}
    print("tokens/s by max_batch (all rounds): " + ", ".join(f"{b}: {rate[b]:.1f}" for b in sizes))
    for a, b in zip(sizes, sizes[1:], strict=False):
        print(f"  {b} over {a}: {rate[b] / rate[a]:.2f}x")
    lo, hi = min(sizes), max(sizes)
    print(f"batch_{hi}_over_{lo}_tokens_per_s: {rate[hi] / rate[lo]:.2f}")


def main() -> None:
    asyncio.run(run(parse_args()))


if __name__ == "__main__":
    main()
