"""Benchmark of the in-process engine (``asearcher.inference.hf.HFEngine``).

(a) one multi-turn scripted-observation episode (each turn: generate ``--gen`` tokens, append ``--obs``
    tokens of observation) with prefix reuse vs re-prefilling the whole context each turn, on the same
    engine; (b) ``--episodes`` concurrent episodes batched vs the same episodes one after another.

    .venv/bin/python bench/engine.py            # SmolLM2-135M, 30-turn (a), 8 x 10-turn (b); ~6 min
    .venv/bin/python bench/engine.py --quick    # tiny random Llama (unless --model), 20 + 8 x 4 turns; < 1 min

The last line is the headline: ``prefix_reuse_speedup: <tokens/s ratio>``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SYSTEM = ("A conversation between User and Assistant. The user asks a question, and the Assistant answers it. "
          "The Assistant analyzes the given question and information in the mind, retains important relevant "
          "information, calls a search engine to find necessary information, accesses web pages with certain "
          "urls, and provides the user with the answer. The Assistant conducts search by <search> query "
          "</search>, accesses a certain url by <access> url </access>, and the top search results and url page "
          "will be returned between <information> and </information>. The reasoning processes are enclosed "
          "within <think> </think>. Finally, the Assistant provides answer inside <answer> and </answer>, i.e. "
          "<answer> answer here </answer>. If there are multiple queries, ensure all answers are enclosed within "
          "<answer> </answer>, separated with comma. Note that when the question is invalid, answer with "
          "<answer> invalid question </answer>.")
QUESTION = "Who was the chief engineer of the company that built the tower finished in 1889 for the world fair?"
OBSERVATION = ("<information>Doc 1 (Title: The Tower) The tower was completed in 1889 for the world fair and "
               "was the tallest structure in the world for forty-one years. Doc 2 (Title: Gustave) The chief "
               "engineer of the company had earlier built bridges and viaducts across the country and abroad. "
               "Doc 3 (Title: Paris) The city hosts millions of visitors every year.</information>")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="under a minute: tiny model unless --model is given")
    p.add_argument("--model", default=None, help="registry name or path (default smollm2-135m; quick: tiny-llama)")
    p.add_argument("--turns", type=int, default=None, help="turns of the episode in (a) (default 30; quick 20)")
    p.add_argument("--episodes", type=int, default=8, help="concurrent episodes in (b)")
    p.add_argument("--episode-turns", type=int, default=None, help="turns per episode in (b) (default 10; quick 4)")
    p.add_argument("--gen", type=int, default=20, help="generated tokens per turn")
    p.add_argument("--obs", type=int, default=60, help="observation tokens appended per turn")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default 2; quick: 1, the tiny model gains nothing from more)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast forward")
    return p.parse_args()


def render_prompt(tok) -> list[int]:
    """The paper's search+access system prompt and a question, in the model's chat template if it has one."""
    if getattr(tok, "chat_template", None):
        out = tok.apply_chat_template([{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}],
                                      add_generation_prompt=True, tokenize=True, return_dict=True)
        return list(out["input_ids"])
    return tok.encode(f"User: {SYSTEM} Question: {QUESTION} Assistant: <think>", add_special_tokens=False)


async def episode(engine, prompt: list[int], obs: list[int], turns: int, gen: int, session: str | None,
                  seed: int) -> int:
    """Run one scripted episode; returns the number of generated tokens."""
    from asearcher.types import GenerateRequest

    ids, produced = list(prompt), 0
    for turn in range(turns):
        req = GenerateRequest(input_ids=ids, max_new_tokens=gen, temperature=1.0, seed=seed * 1000 + turn,
                              session_id=session)
        resp = await engine.generate(req)
        produced += len(resp.output_ids)
        ids = ids + resp.output_ids + obs
    if session is not None:
        engine.release(session)
    return produced


async def timed(engine, coro_factory) -> tuple[float, int, int]:
    """(seconds, generated tokens, prefilled tokens) of one awaited workload."""
    before = engine.stats.prefill_tokens
    t0 = time.perf_counter()
    produced = await coro_factory()
    return time.perf_counter() - t0, produced, engine.stats.prefill_tokens - before


async def interleaved_episodes(engine, prompt: list[int], obs: list[int], turns: int, gen: int):
    """The same scripted episode with prefix reuse (a session id) and with re-prefill (none), one turn of each
    in turn, so that both see the same machine load (this box is shared). Returns two (s, tokens, prefilled)."""
    from asearcher.types import GenerateRequest

    ids = {"reuse": list(prompt), "fresh": list(prompt)}
    acc = {mode: [0.0, 0, 0] for mode in ids}
    for turn in range(turns):
        for mode in ids:
            req = GenerateRequest(input_ids=ids[mode], max_new_tokens=gen, temperature=1.0, seed=1000 + turn,
                                  session_id="a" if mode == "reuse" else None)
            prefilled, t0 = engine.stats.prefill_tokens, time.perf_counter()
            resp = await engine.generate(req)
            acc[mode][0] += time.perf_counter() - t0
            acc[mode][1] += len(resp.output_ids)
            acc[mode][2] += engine.stats.prefill_tokens - prefilled
            ids[mode] = ids[mode] + resp.output_ids + obs
    engine.release("a")
    return tuple(acc["reuse"]), tuple(acc["fresh"])


def line(label: str, secs: float, toks: int, prefilled: int) -> str:
    return f"  {label:<13}: {toks} tokens in {secs:6.1f} s = {toks / secs:7.1f} tok/s (prefilled {prefilled} tokens)"


async def run(args: argparse.Namespace) -> None:
    import torch

    from asearcher.inference.hf import HFEngine
    from asearcher.models import load_model, load_tokenizer

    args.threads = args.threads or (1 if args.quick else 2)
    torch.set_num_threads(args.threads)
    name = args.model or ("tiny-llama" if args.quick else "smollm2-135m")
    args.turns = args.turns or (20 if args.quick else 30)
    ep_turns = args.episode_turns or (4 if args.quick else 10)
    model, tok = load_model(name), load_tokenizer(name)
    prompt = render_prompt(tok)
    obs = tok.encode(OBSERVATION * 3, add_special_tokens=False)[: args.obs]
    engine = HFEngine(model, tok, max_batch=max(8, args.episodes), autocast_bf16=args.bf16, seed=0)
    print(f"model: {name} ({'bf16 autocast' if args.bf16 else 'fp32'}, {args.threads} threads), quick={args.quick}; "
          f"prompt {len(prompt)} tokens, {args.gen} generated + {len(obs)} observation tokens per turn")
    if name.startswith("tiny"):
        print("note: a tiny random model makes prefill nearly free, so its ratios understate the real ones")

    # warm-up: both code paths and a few batch shapes (the first call for a shape is slow)
    await episode(engine, prompt, obs, 3, args.gen, "warm", 0)
    await episode(engine, prompt, obs, 2, args.gen, None, 0)
    await asyncio.gather(*(episode(engine, prompt, obs, 2, args.gen, f"w{i}", i) for i in range(args.episodes)))

    print(f"[a] one {args.turns}-turn episode on the same engine, turns of the two modes interleaved")
    reuse, fresh = await interleaved_episodes(engine, prompt, obs, args.turns, args.gen)
    print(line("prefix reuse", *reuse))
    print(line("re-prefill", *fresh))
    reuse_ratio = (reuse[1] / reuse[0]) / (fresh[1] / fresh[0])

    print(f"[b] {args.episodes} episodes x {ep_turns} turns (prefix reuse on)")

    async def together() -> int:
        outs = await asyncio.gather(*(episode(engine, prompt, obs, ep_turns, args.gen, f"b{i}", 10 + i)
                                      for i in range(args.episodes)))
        return sum(outs)

    async def one_by_one() -> int:
        return sum([await episode(engine, prompt, obs, ep_turns, args.gen, f"c{i}", 10 + i)
                    for i in range(args.episodes)])

    batched = await timed(engine, together)
    print(line("batched", *batched) + f", max batch {engine.stats.max_batch_seen}")
    serial = await timed(engine, one_by_one)
    print(line("one by one", *serial))
    await engine.aclose()
    print(f"batched_speedup: {(batched[1] / batched[0]) / (serial[1] / serial[0]):.2f}")
    print(f"prefix_reuse_speedup: {reuse_ratio:.2f}")


def main() -> None:
    asyncio.run(run(parse_args()))


if __name__ == "__main__":
    main()
