"""Rollout throughput of a remote inference server (vLLM / SGLang / the fake server) vs the in-process engine.

Both engines run the same workload: ``--episodes`` concurrent agent-like episodes of ``--turns`` turns; each
turn samples ``--gen`` tokens (temperature 1, stop on eos) and appends ``--obs`` observation tokens, with the
trajectory pinned to one server (session id). Throughput = generated tokens / wall time.

    python bench/rollout_throughput.py --url http://127.0.0.1:8000 --kind vllm --model DIR --device cuda
    .venv/bin/python bench/rollout_throughput.py --quick   # fake server in a thread + tiny Qwen2, CPU, < 1 min

The last line is the headline: ``remote_vs_inprocess_tokens_per_s: <ratio>``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fake server in a thread, tiny-qwen2, CPU, < 1 min")
    p.add_argument("--url", help="remote server base URL (default with --quick: a fake server started here)")
    p.add_argument("--kind", choices=["vllm", "sglang"], default="sglang", help="wire format of --url")
    p.add_argument("--model", default="tiny-qwen2", help="registry name or path (same weights as the server)")
    p.add_argument("--device", default="cpu", help="device of the in-process engine")
    p.add_argument("--episodes", type=int, default=16)
    p.add_argument("--turns", type=int, default=4)
    p.add_argument("--gen", type=int, default=64)
    p.add_argument("--obs", type=int, default=32)
    p.add_argument("--max-batch", type=int, default=16, help="in-process engine: sequences decoded together")
    return p.parse_args()


async def workload(engine, tok, episodes: int, turns: int, gen: int, obs: int) -> tuple[int, float]:
    """(generated tokens, seconds) for the concurrent multi-turn workload."""
    from asearcher.types import GenerateRequest

    prompt = tok.encode("Question: where was the founder of the company born? Let me search.",
                        add_special_tokens=False)
    observation = (tok.encode(" <information>Doc 1 (Title: Paris) Paris is the capital of France.</information>",
                              add_special_tokens=False) * 8)[:obs]

    async def episode(i: int) -> int:
        ids, n = list(prompt), 0
        for _ in range(turns):
            r = await engine.generate(GenerateRequest(input_ids=ids, max_new_tokens=gen, temperature=1.0,
                                                      seed=1000 * i + n, session_id=f"ep{i}",
                                                      stop_token_ids=[tok.eos_token_id]))
            n += len(r.output_ids)
            ids += r.output_ids + observation
        return n

    t0 = time.perf_counter()
    counts = await asyncio.gather(*(episode(i) for i in range(episodes)))
    return sum(counts), time.perf_counter() - t0


def main() -> None:
    args = parse_args()
    import torch

    from asearcher.inference.hf import HFEngine
    from asearcher.inference.remote import RemoteEngine
    from asearcher.inference.remote_backends import make_backend
    from asearcher.models import load_model, load_tokenizer

    torch.set_num_threads(max(1, (os.cpu_count() or 2) // (2 if args.quick and not args.url else 1)))
    if args.quick:
        args.episodes, args.turns, args.gen, args.obs = min(args.episodes, 8), min(args.turns, 3), 24, 16
    tok = load_tokenizer(args.model)
    thread = None
    url = args.url
    if url is None:
        from asearcher.inference.fake_server import FakeServer, ServerThread

        thread = ServerThread(FakeServer(load_model(args.model), tok).app)
        url = thread.url
    remote = RemoteEngine([url], make_backend(args.kind), tokenizer=tok)
    r_tok, r_s = asyncio.run(workload(remote, tok, args.episodes, args.turns, args.gen, args.obs))
    if thread is not None:
        thread.stop()
    local = HFEngine(load_model(args.model).to(args.device), tok, max_batch=args.max_batch, seed=0)
    l_tok, l_s = asyncio.run(workload(local, tok, args.episodes, args.turns, args.gen, args.obs))
    print(f"remote ({args.kind} @ {url}): {r_tok} tokens in {r_s:.2f} s = {r_tok / r_s:.1f} tok/s")
    print(f"in-process HFEngine ({args.device}, max_batch {args.max_batch}): {l_tok} tokens in {l_s:.2f} s "
          f"= {l_tok / l_s:.1f} tok/s")
    print(f"remote_vs_inprocess_tokens_per_s: {(r_tok / r_s) / (l_tok / l_s):.3f}")


if __name__ == "__main__":
    main()
