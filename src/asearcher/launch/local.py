"""Local launcher: inference servers as subprocesses of this process, then the trainer ranks via torchrun
(``python -m torch.distributed.run``); waits on every server's ``/health`` first and stops the servers at
the end, whatever happens. Logs go to ``OUT/logs/``."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from asearcher.config import save_config
from asearcher.config.launch import LaunchConfig
from asearcher.launch.servers import ServerProcess, free_port, server_command, wait_healthy

log = logging.getLogger(__name__)


def gpu_plan(lc: LaunchConfig) -> tuple[list[list[int] | None], list[int] | None]:
    """GPU ids of each server and of the trainer on one machine (None = CPU): servers first, then trainer."""
    g = lc.servers.gpus_per_server
    servers: list[list[int] | None] = [list(range(k * g, (k + 1) * g)) if g else None
                                       for k in range(lc.servers.replicas)]
    first = 0 if lc.trainer.colocate else lc.servers.replicas * g
    trainer = list(range(first, first + lc.trainer.procs_per_node)) if lc.trainer.device == "cuda" else None
    return servers, trainer


def trainer_command(lc: LaunchConfig, cfg_path: Path, urls: str, master_port: int) -> list[str]:
    """torchrun over ``asearcher.launch.worker`` on this node."""
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
            "--nproc-per-node", str(lc.trainer.procs_per_node), "--master-addr", lc.host,
            "--master-port", str(master_port), "-m", "asearcher.launch.worker",
            "--launch-config", str(cfg_path), "--engine-urls", urls]


def start_servers(lc: LaunchConfig, model_dir: str, out: Path) -> list[ServerProcess]:
    servers_gpus, _ = gpu_plan(lc)
    procs = []
    for k, gpus in enumerate(servers_gpus):
        port = lc.servers.base_port + k if lc.servers.base_port else free_port(lc.host)
        cmd = server_command(lc.servers, model_dir, lc.host, port)
        procs.append(ServerProcess(cmd, out / "logs" / f"server_{k}.log", f"http://{lc.host}:{port}", gpus))
    return procs


def run_local(lc: LaunchConfig) -> int:
    """Start the servers, wait for health, run the trainer ranks; returns torchrun's exit code."""
    from asearcher.launch.worker import load_train_config
    from asearcher.models import resolve_model_dir

    out = Path(lc.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "launch.yaml"
    save_config(lc, cfg_path)
    model_dir = lc.servers.model or resolve_model_dir(load_train_config(lc).model.name)
    # SIGTERM (job schedulers, timeouts) must still run the finally below that stops the servers
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    servers = start_servers(lc, model_dir, out)
    try:
        wait_healthy(servers, lc.servers.startup_timeout_s)
        urls = ",".join(s.url for s in servers)
        _, trainer_gpus = gpu_plan(lc)
        env = {**os.environ, "MASTER_ADDR": lc.host, "RAY_USAGE_STATS_ENABLED": "0"}
        if trainer_gpus is not None:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, trainer_gpus))
        else:
            env.setdefault("OMP_NUM_THREADS", "1")
        cmd = trainer_command(lc, cfg_path, urls, free_port(lc.host))
        log.info("trainer: %s", " ".join(cmd))
        with (out / "logs" / "trainer.log").open("ab") as f:
            rc = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
        if rc:
            log.error("trainer failed (exit %d); see %s", rc, out / "logs" / "trainer.log")
        return rc
    finally:
        for s in servers:
            s.stop()
