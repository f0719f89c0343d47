"""Warm-start (SFT) step time of the bundled SmolLM2-135M on real oracle trajectories of the default
world: the output head at every position versus only at the positions that predict a loss (assistant)
token — what ``LocalTrainEngine.train_step`` does. Prompt and tool-result tokens are most of an agent
trajectory, and the 49k-vocabulary head with its fp32 log-softmax is about a fifth of the model's compute.

Both variants run forward + backward on the same batches (alternating, so machine drift hits both), with
the default trainer settings (bf16 autocast, rows one by one on CPU); the optimizer step is the same for
both and left out.

    python bench/sft_step.py --quick   # 1 batch of 4 trajectories each way (< 1 min on an idle machine)
    python bench/sft_step.py           # 6 batches of 8 (the default warm start's batch)

The last line is ``sft_step_speedup: X`` (all-positions time / loss-positions time).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def oracle_batches(n_batches: int, batch_size: int):
    """Batches of merged token rows from oracle trajectories of the default world's 1–2-hop train questions."""
    from asearcher.config import TrainConfig
    from asearcher.trainer.engine import Batch
    from asearcher.trainer.sft import sft_samples, warm_start_for

    cfg = TrainConfig()
    cfg.sft.max_examples = n_batches * batch_size
    trajs, _ = warm_start_for(cfg)
    rows = sft_samples(trajs)
    return [Batch.from_samples([s for r in rows[k:k + batch_size] for s in r])
            for k in range(0, len(rows) - batch_size + 1, batch_size)], cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 batch of 4 trajectories each way")
    ap.add_argument("--batches", type=int, default=6, help="batches each way (default 6)")
    ap.add_argument("--batch-size", type=int, default=8, help="trajectories per batch (the default warm start's)")
    args = ap.parse_args()
    n, size = (1, 4) if args.quick else (args.batches, args.batch_size)

    import torch

    from asearcher.models import load_model
    from asearcher.trainer.local import LocalTrainEngine
    from asearcher.trainer.loss import sft_loss

    batches, cfg = oracle_batches(n, size)
    engine = LocalTrainEngine(load_model(cfg.model.name), cfg.trainer, lr=cfg.sft.lr)

    def step(batch, head_everywhere: bool) -> float:
        engine.model.train()
        engine.optimizer.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        n_tokens = max(1, batch.n_loss_tokens)
        for i in range(len(batch)):
            masks = None if head_everywhere else [batch.loss_mask[i]]
            lp = engine._forward_logprobs([batch.ids[i]], grad=True, masks=masks)[0]
            loss, _ = sft_loss(lp, batch.loss_mask[i], n_tokens=n_tokens)
            loss.backward()
        return time.perf_counter() - t0

    from asearcher.trainer.engine import Batch

    first = batches[0]
    step(Batch([first.ids[0][:256]], [first.loss_mask[0][:256]], [first.old_logprobs[0][:256]],
               [first.versions[0][:256]], [first.advantages[0][:256]]), False)  # warm-up (allocator, kernels)
    t_all = t_loss = 0.0
    for b in batches:
        t_all += step(b, True)
        t_loss += step(b, False)
    tokens = sum(b.n_tokens for b in batches)
    loss_tokens = sum(b.n_loss_tokens for b in batches)
    print(f"{len(batches)} batches of {size} oracle trajectories: {tokens} tokens, "
          f"{loss_tokens} loss tokens ({100 * loss_tokens / tokens:.0f} %), torch threads {torch.get_num_threads()}")
    print(f"head at every position:  {t_all / len(batches):6.2f} s per batch ({tokens / t_all:6.0f} tokens/s)")
    print(f"head at loss positions:  {t_loss / len(batches):6.2f} s per batch ({tokens / t_loss:6.0f} tokens/s)")
    print(f"sft_step_speedup: {t_all / t_loss:.2f}")


if __name__ == "__main__":
    main()
