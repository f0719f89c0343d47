"""bf16 autocast against fp32 on this machine: a warm-start step of the bundled SmolLM2-135M (forward +
backward on real oracle trajectories of the default world), timed both ways on the same batches, alternating
so machine drift hits both. Tells whether ``autocast_bf16: auto`` (bf16 only where the CPU has AVX512-BF16 /
AMX / Arm bf16, ``asearcher.precision``) picks the faster one here.

    python bench/precision.py --quick   # 1 batch of 2 trajectories each way (< 1 min)
    python bench/precision.py           # 4 batches of 8 (the default warm start's batch)

The last line is ``bf16_speedup_over_fp32: X`` (fp32 time / bf16 time; below 1 = bf16 is slower here).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 batch of 2 trajectories each way")
    ap.add_argument("--batches", type=int, default=4, help="batches each way (default 4)")
    ap.add_argument("--batch-size", type=int, default=8, help="trajectories per batch (the default warm start's)")
    args = ap.parse_args()
    n, size = (1, 2) if args.quick else (args.batches, args.batch_size)

    import torch
    from sft_step import oracle_batches

    from asearcher.models import load_model
    from asearcher.precision import cpu_has_native_bf16
    from asearcher.trainer.local import LocalTrainEngine
    from asearcher.trainer.loss import sft_loss

    batches, cfg = oracle_batches(n, size)
    engine = LocalTrainEngine(load_model(cfg.model.name), cfg.trainer, lr=cfg.sft.lr)

    def step(batch, bf16: bool) -> float:
        engine.bf16 = bf16
        engine.model.train()
        engine.optimizer.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        for i in range(len(batch)):
            lp = engine._forward_logprobs([batch.ids[i]], grad=True, masks=[batch.loss_mask[i]])[0]
            loss, _ = sft_loss(lp, batch.loss_mask[i], n_tokens=max(1, batch.n_loss_tokens))
            loss.backward()
        return time.perf_counter() - t0

    from asearcher.trainer.engine import Batch

    first = batches[0]
    warm = Batch([first.ids[0][:256]], [first.loss_mask[0][:256]], [first.old_logprobs[0][:256]],
                 [first.versions[0][:256]], [first.advantages[0][:256]])
    step(warm, True), step(warm, False)  # warm-up (allocator, kernels)
    t_bf16 = t_fp32 = 0.0
    for b in batches:
        t_bf16 += step(b, True)
        t_fp32 += step(b, False)
    tokens = sum(b.n_tokens for b in batches)
    print(f"CPU native bf16 (AVX512-BF16/AMX/Arm bf16): {cpu_has_native_bf16()}; torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}; {len(batches)} batches of {size}: {tokens} tokens")
    print(f"bf16 autocast: {t_bf16 / len(batches):6.2f} s per batch ({tokens / t_bf16:6.0f} tokens/s)")
    print(f"fp32:          {t_fp32 / len(batches):6.2f} s per batch ({tokens / t_fp32:6.0f} tokens/s)")
    print(f"bf16_speedup_over_fp32: {t_fp32 / t_bf16:.2f}")


if __name__ == "__main__":
    main()
