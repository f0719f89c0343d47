"""Longest trajectory that trains on this machine: one decoupled-PPO step (π_prox recompute + update) of
the bundled SmolLM2-135M on a single token sequence of growing length, with the trainer's memory savers on
(gradient checkpointing, chunked logprobs — never [T, vocab] fp32 logits at once —, bf16 autocast over fp32
master weights, token-budget micro-batching with the budget = the sequence).

Each length runs in a fresh child process (its peak RSS is that length's peak) under an address-space limit
(``--mem-limit-gb``), so a length that does not fit fails cleanly instead of waking the OOM killer.

    python bench/long_context.py --quick          # 1k and 2k tokens (< 1 min on an idle machine)
    python bench/long_context.py                  # 8k, 16k, 32k, 64k (long: attention is quadratic)
    python bench/long_context.py --lengths 65536  # one length
    python bench/long_context.py --device cuda --random-init --lengths 65536,131072 --mem-limit-gb 24

``--random-init`` builds SmolLM2-135M's architecture with random weights (same compute and memory as the
bundled model) for machines that cannot install the bundled package, e.g. a GPU box without network. On
``--device cuda`` the limit is a cap on the CUDA caching allocator (``set_per_process_memory_fraction``) and
the peak is ``torch.cuda.max_memory_allocated``.

The last line is ``longest_trained_tokens: N``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

# SmolLM2-135M-Instruct's architecture (the bundled model's config.json), for --random-init.
SMOLLM2_135M = dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                    num_key_value_heads=3, head_dim=64, vocab_size=49152, tie_word_embeddings=True,
                    rms_norm_eps=1e-5, rope_theta=100000.0, max_position_embeddings=8192)


def build_model(random_init: bool):
    if not random_init:
        from asearcher.models import load_model

        return load_model("smollm2-135m")
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(**SMOLLM2_135M)).eval()


def child(length: int, mem_limit_gb: float, checkpointing: bool, threads: int | None, device: str = "cpu",
          random_init: bool = False) -> None:
    """Train one step on one sequence of ``length`` tokens; print a JSON line with timings and peak memory."""
    limit = int(mem_limit_gb * (1 << 30))
    if device == "cpu":  # CUDA maps a huge virtual address space, so an RLIMIT_AS would break its start
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import torch

    if threads:
        torch.set_num_threads(threads)
    if device == "cuda":
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, limit / total), 0)

    from asearcher.config import TrainerConfig
    from asearcher.trainer.engine import Batch
    from asearcher.trainer.local import LocalTrainEngine
    from asearcher.types import TrainSample

    model = build_model(random_init).to(device)
    cfg = TrainerConfig(gradient_checkpointing=checkpointing, autocast_bf16=True, max_tokens_per_mb=length,
                        logprob_chunk=1024, lr=1e-6)
    engine = LocalTrainEngine(model, cfg)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(10, model.config.vocab_size, (length,), generator=g).tolist()
    prompt = 256
    mask = [0] * prompt + [1] * (length - prompt)
    row = TrainSample(ids=ids, loss_mask=mask, logprobs=[-2.0 * m for m in mask], versions=[-1] * prompt + [0] * (length - prompt),
                      reward=1.0, trajectory_id="long", group_id="g")
    batch = Batch.from_samples([row], [[0.5 * m for m in mask]])
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    t0 = time.perf_counter()
    batch.prox_logprobs = engine.compute_logprobs(batch)
    sync()
    t1 = time.perf_counter()
    stats = engine.train_step(batch)
    sync()
    t2 = time.perf_counter()
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / (1 << 30)
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 20)  # KiB → GiB
    print(json.dumps({"length": length, "prox_s": t1 - t0, "train_s": t2 - t1, "peak_rss_gib": peak,
                      "grad_norm": stats["grad_norm"], "finite": bool(torch.isfinite(torch.tensor(stats["loss"])))}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1k and 2k tokens only")
    ap.add_argument("--lengths", help="comma-separated token counts (default 8192,16384,32768,65536)")
    ap.add_argument("--mem-limit-gb", type=float, default=18.0, help="address-space limit of each child")
    ap.add_argument("--no-checkpointing", action="store_true", help="turn gradient checkpointing off (compare)")
    ap.add_argument("--timeout-s", type=float, default=4 * 3600, help="per-length time limit")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's choice; 1 is faster on a busy machine)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where the step runs (default cpu)")
    ap.add_argument("--random-init", action="store_true",
                    help="SmolLM2-135M's architecture with random weights (no bundled package needed)")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.mem_limit_gb, not args.no_checkpointing, args.threads, args.device, args.random_init)
        return
    lengths = [1024, 2048] if args.quick else [int(x) for x in (args.lengths or "8192,16384,32768,65536").split(",")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    what = "SmolLM2-135M architecture, random weights" if args.random_init else "bundled SmolLM2-135M"
    cap = "CUDA memory cap" if args.device == "cuda" else "address-space limit"
    print(f"{what} on {args.device}, checkpointing={'off' if args.no_checkpointing else 'on'}, bf16 autocast, "
          f"logprob chunk 1024, {cap} {args.mem_limit_gb:g} GiB per length")
    print(f"{'tokens':>7s} {'prox s':>8s} {'train s':>8s} {'peak GiB':>9s}  result")
    longest = 0
    for n in lengths:
        cmd = [sys.executable, __file__, "--child", str(n), "--mem-limit-gb", str(args.mem_limit_gb)]
        cmd += ["--no-checkpointing"] if args.no_checkpointing else []
        cmd += ["--threads", str(args.threads)] if args.threads else []
        cmd += ["--device", args.device] + (["--random-init"] if args.random_init else [])
        try:
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout_s)
        except subprocess.TimeoutExpired:
            print(f"{n:7d} {'':>8s} {'':>8s} {'':>9s}  timed out after {args.timeout_s:.0f}s")
            break
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        if out.returncode != 0 or not lines:
            reason = (out.stderr.strip().splitlines() or ["killed"])[-1][:100]
            print(f"{n:7d} {'':>8s} {'':>8s} {'':>9s}  FAILED: {reason}")
            break
        r = json.loads(lines[-1])
        ok = r["finite"]
        print(f"{n:7d} {r['prox_s']:8.1f} {r['train_s']:8.1f} {r['peak_rss_gib']:9.2f}  {'ok' if ok else 'non-finite loss'}")
        if not ok:
            break
        longest = n
    print(f"longest_trained_tokens: {longest}")


if __name__ == "__main__":
    main()
