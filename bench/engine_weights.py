"""In-process engine under bf16 autocast: fp32 weights cast on every forward vs weights stored in bf16.

``HFEngine(..., autocast_bf16=True)`` casts every linear layer's fp32 weight to bf16 on each forward; with
``bf16_weights=True`` the engine keeps them in bf16 (the values autocast computes with, so the outputs are
the same bits). Two engines on two copies of the model run the same work, their runs alternating so that both
see the same machine load:

    (a) one sequence: a ~500-token prompt, then ``--gen`` greedy tokens (a long agent turn running alone —
        the tail of an evaluation);
    (b) ``--episodes`` concurrent 3-turn (quick: 2-turn) episodes (prefill of a search result, then ``--gen`` sampled
        tokens per turn; the engine batches up to ``--episodes``) — an RL rollout batch.

    .venv/bin/python bench/engine_weights.py           # SmolLM2-135M, 3 rounds, 16 episodes; ~12 min
    .venv/bin/python bench/engine_weights.py --quick   # SmolLM2-135M, 1 round, 4 x 2 turns, 24 tokens; < 1 min

The last line is the headline: ``bf16_weights_single_decode_speedup: <tokens/s ratio>``.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="one round, 4 episodes, 24 tokens: under a minute")
    p.add_argument("--model", default="smollm2-135m", help="registry name or path")
    p.add_argument("--rounds", type=int, default=None, help="alternating rounds per engine (default 3; quick 1)")
    p.add_argument("--episodes", type=int, default=None, help="concurrent episodes in (b) (default 16; quick 4)")
    p.add_argument("--gen", type=int, default=None, help="generated tokens per call (default 96; quick 24)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    return p.parse_args()


async def single(engine, ids: list[int], gen: int) -> tuple[int, float]:
    from asearcher.types import GenerateRequest

    # no session id: the timed call prefills the prompt too (~0.5 s of it), as an agent turn would
    await engine.generate(GenerateRequest(input_ids=ids, max_new_tokens=1, temperature=0.0))  # warm-up
    t0 = time.perf_counter()
    resp = await engine.generate(GenerateRequest(input_ids=ids, max_new_tokens=gen, temperature=0.0))
    return len(resp.output_ids), time.perf_counter() - t0


async def batch(engine, prompt: list[int], obs: list[int], episodes: int, gen: int, tag: str,
                turns: int = 3) -> tuple[int, float]:
    from engine import episode

    t0 = time.perf_counter()
    outs = await asyncio.gather(*(episode(engine, prompt, obs, turns, gen, f"{tag}{i}", 10 + i)
                                  for i in range(episodes)))
    return sum(outs), time.perf_counter() - t0


async def run(args: argparse.Namespace) -> None:
    import torch
    from engine import OBSERVATION, render_prompt

    from asearcher.inference.hf import HFEngine
    from asearcher.models import load_model, load_tokenizer

    rounds = args.rounds or (1 if args.quick else 3)
    episodes = args.episodes or (4 if args.quick else 16)
    gen = args.gen or (24 if args.quick else 96)
    torch.set_num_threads(args.threads)
    model, tok = load_model(args.model), load_tokenizer(args.model)
    prompt = render_prompt(tok)
    obs = tok.encode(OBSERVATION * 3, add_special_tokens=False)[:150]
    long_prompt = prompt + tok.encode(OBSERVATION * 4, add_special_tokens=False)[:300]
    engines = {"cast each forward": HFEngine(copy.deepcopy(model), tok, max_batch=episodes, autocast_bf16=True,
                                             seed=0),
               "bf16 weights": HFEngine(model, tok, max_batch=episodes, autocast_bf16=True, bf16_weights=True,
                                        seed=0)}
    print(f"model: {args.model}, {args.threads} threads, bf16 autocast; (a) {len(long_prompt)}-token prompt + {gen} "
          f"greedy tokens alone; (b) {episodes} x {2 if args.quick else 3} turns of {gen} tokens + {len(obs)} observation tokens")
    for eng in engines.values():  # warm-up of both code paths and batch shapes
        await single(eng, long_prompt, 2)
        await batch(eng, prompt, obs, episodes, 2, "w", turns=1)
    acc = {name: {"a": [0, 0.0], "b": [0, 0.0]} for name in engines}
    for r in range(rounds):
        for name, eng in engines.items():
            n, s = await single(eng, long_prompt, gen)
            acc[name]["a"][0] += n
            acc[name]["a"][1] += s
            n, s = await batch(eng, prompt, obs, episodes, gen, f"r{r}", turns=2 if args.quick else 3)
            acc[name]["b"][0] += n
            acc[name]["b"][1] += s
    for eng in engines.values():
        await eng.aclose()
    rate = {name: {k: v[0] / v[1] for k, v in parts.items()} for name, parts in acc.items()}
    for name, parts in acc.items():
        print(f"  {name:<18}: (a) {parts['a'][0]} tokens in {parts['a'][1]:6.1f} s = {rate[name]['a']:6.1f} tok/s; "
              f"(b) {parts['b'][0]} tokens in {parts['b'][1]:6.1f} s = {rate[name]['b']:6.1f} tok/s")
    slow, fast = rate["cast each forward"], rate["bf16 weights"]
    print(f"bf16_weights_batch_speedup: {fast['b'] / slow['b']:.2f}")
    print(f"bf16_weights_single_decode_speedup: {fast['a'] / slow['a']:.2f}")


def main() -> None:
    asyncio.run(run(parse_args()))


if __name__ == "__main__":
    main()
