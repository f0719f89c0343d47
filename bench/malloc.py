"""Warm-start speed of the default run under glibc's malloc versus jemalloc (or tcmalloc), the allocator
the ``asearcher`` command re-executes itself with when the system has one (``asearcher.malloc``).

Each variant is a real ``asearcher train`` warm start (the default recipe, RL and evaluations off) in its own
process, one after the other: ``ASEARCHER_MALLOC=system`` first, then ``auto``. Under glibc the step time
grows as the run goes on, so the figures that matter are the whole warm start's time and the pace of its
last third. Needs jemalloc or tcmalloc installed (Debian/Ubuntu: ``apt install libjemalloc2``).

    python bench/malloc.py --quick   # 3 steps of 1 trajectory each way (< 1 min; shows little: no time to drift)
    python bench/malloc.py           # 24 steps of 8 trajectories each way (~20 min)

The last line is ``malloc_sft_speedup: X`` (warm-start seconds under glibc / under the preloaded allocator).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# main() with no argv is the console script: it re-executes this file with the allocator preloaded; then the peak RSS
CHILD = (
    "import resource, sys\n"
    "from asearcher.cli.main import main\n"
    "rc = main()\n"
    "print('peak_rss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)\n"
    "sys.exit(rc)\n"
)


def run(mode: str, steps: int, batch: int, root: Path) -> dict:
    out = root / mode
    env = {**os.environ, "ASEARCHER_MALLOC": mode, "HF_HUB_OFFLINE": "1"}
    env.pop("LD_PRELOAD", None)  # a preload of the user's own would make both variants the same
    script = out.parent / "child.py"
    script.write_text(CHILD)
    cmd = [sys.executable, str(script), "train", "--out", str(out), "--no-progress", "trainer.steps=0", "evaluate=[]",
           f"sft.steps={steps}", f"sft.batch_size={batch}", "sft.max_minutes=null"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{mode}: asearcher train failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
    rows = [json.loads(line) for line in (out / "sft" / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rss = next(int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("peak_rss_kb"))
    rates = [r["sft/tokens_per_s"] for r in rows]
    third = max(1, len(rates) // 3)
    return {"sft_s": rows[-1]["time/sft_elapsed_s"], "first": sum(rates[:third]) / third,
            "last": sum(rates[-third:]) / third, "peak_gib": rss / 2**20, "wall": wall,
            "losses": [r["sft/loss"] for r in rows]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 steps of 1 trajectory each way")
    ap.add_argument("--steps", type=int, default=24, help="warm-start steps each way (default 24)")
    ap.add_argument("--batch-size", type=int, default=8, help="trajectories per step (default: the default run's 8)")
    args = ap.parse_args()
    steps, batch = (3, 1) if args.quick else (args.steps, args.batch_size)
    from asearcher.malloc import plan

    chosen = plan({"ASEARCHER_MALLOC": "auto"})
    if chosen is None:
        sys.exit("neither jemalloc nor tcmalloc is installed (Debian/Ubuntu: apt install libjemalloc2): "
                 "nothing to compare glibc's malloc with")
    with tempfile.TemporaryDirectory(prefix="bench-malloc-") as tmp:
        res = {mode: run(mode, steps, batch, Path(tmp)) for mode in ("system", "auto")}
    res[chosen[0]] = res.pop("auto")
    a, b = res.values()
    same = a["losses"] == b["losses"]
    print(f"{steps} warm-start steps of {batch} oracle trajectories each way; losses identical: {same}")
    for mode, r in res.items():
        print(f"{mode:>8}: warm start {r['sft_s']:7.1f} s, tokens/s first third {r['first']:5.0f}, last third "
              f"{r['last']:5.0f}, peak RSS {r['peak_gib']:.2f} GiB, process {r['wall']:.0f} s")
    print(f"malloc_sft_speedup: {a['sft_s'] / b['sft_s']:.2f}")


if __name__ == "__main__":
    main()
