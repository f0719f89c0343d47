"""Ray launcher: Ray places and owns the processes, nothing more. One placement group holds a bundle per
server and per trainer rank; a ``ServerActor`` owns each server subprocess, a ``TrainerActor`` each trainer
rank (a ``asearcher.launch.worker`` subprocess with the torchrun environment: RANK, WORLD_SIZE, MASTER_ADDR …).
The data plane stays HTTP (rollout ↔ servers) and torch.distributed (trainer ↔ trainer, trainer → servers).

Ray is started on ``lc.host`` without dashboard or usage stats when no cluster is running."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from asearcher.config import save_config
from asearcher.config.launch import LaunchConfig
from asearcher.launch.servers import ServerProcess, free_port, server_command, wait_healthy

log = logging.getLogger(__name__)


class ServerActor:
    """Owns one inference-server subprocess for the actor's lifetime."""

    def __init__(self, lc: LaunchConfig, model_dir: str, index: int):
        port = lc.servers.base_port + index if lc.servers.base_port else free_port(lc.host)
        cmd = server_command(lc.servers, model_dir, lc.host, port)
        self.proc = ServerProcess(cmd, Path(lc.out) / "logs" / f"server_{index}.log", f"http://{lc.host}:{port}")

    def url(self) -> str:
        return self.proc.url

    def stop(self) -> None:
        self.proc.stop()


class TrainerActor:
    """Owns one trainer rank (a worker subprocess with torchrun's environment variables)."""

    def run(self, cfg_path: str, urls: str, rank: int, world: int, master: str, port: int, log_path: str) -> int:
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
               "LOCAL_WORLD_SIZE": str(world), "MASTER_ADDR": master, "MASTER_PORT": str(port),
               "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        cmd = [sys.executable, "-m", "asearcher.launch.worker", "--launch-config", cfg_path, "--engine-urls", urls]
        with open(log_path, "ab") as f:
            return subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT).returncode


def _bundles(lc: LaunchConfig, cpus: float) -> list[dict[str, float]]:
    n = lc.servers.replicas + lc.trainer_world
    each = min(1.0, cpus / n)
    servers = [{"CPU": each, **({"GPU": float(lc.servers.gpus_per_server)} if lc.servers.gpus_per_server else {})}
               for _ in range(lc.servers.replicas)]
    trainers = [{"CPU": each, **({"GPU": 1.0} if lc.trainer.device == "cuda" else {})}
                for _ in range(lc.trainer_world)]
    return servers + trainers


def run_ray(lc: LaunchConfig, num_cpus: int | None = None) -> int:
    """Run the job on Ray (starting a local Ray on ``lc.host`` if none is running); returns the worst rank's
    exit code."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    from asearcher.launch.worker import load_train_config
    from asearcher.models import resolve_model_dir

    out = Path(lc.out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    cfg_path = out / "launch.yaml"
    save_config(lc, cfg_path)
    model_dir = lc.servers.model or resolve_model_dir(load_train_config(lc).model.name)
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=num_cpus, include_dashboard=False, _node_ip_address=lc.host,
                 log_to_driver=False, configure_logging=False)
    bundles = _bundles(lc, float(ray.cluster_resources().get("CPU", 1)))
    pg = placement_group(bundles, strategy="PACK")
    actors: list[Any] = []
    try:
        ray.get(pg.ready(), timeout=120)
        at = lambda i: PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=i)  # noqa: E731
        r = lc.servers.replicas
        servers = [ray.remote(ServerActor).options(num_cpus=bundles[k]["CPU"], num_gpus=bundles[k].get("GPU", 0),
                                                   scheduling_strategy=at(k)).remote(lc, model_dir, k)
                   for k in range(r)]
        actors += servers
        urls = ray.get([s.url.remote() for s in servers])
        wait_healthy([_Remote(u, out / "logs" / f"server_{k}.log") for k, u in enumerate(urls)],
                     lc.servers.startup_timeout_s)
        world, port = lc.trainer_world, free_port(lc.host)
        trainers = [ray.remote(TrainerActor).options(num_cpus=bundles[r + i]["CPU"],
                                                     num_gpus=bundles[r + i].get("GPU", 0),
                                                     scheduling_strategy=at(r + i)).remote()
                    for i in range(world)]
        actors += trainers
        rcs = ray.get([t.run.remote(str(cfg_path), ",".join(urls), i, world, lc.host, port,
                                    str(out / "logs" / f"trainer_{i}.log")) for i, t in enumerate(trainers)])
        return max(rcs)
    finally:
        for a in actors[: lc.servers.replicas]:
            try:
                ray.get(a.stop.remote(), timeout=60)
            except Exception as e:  # noqa: BLE001 - teardown must go on
                log.warning("stopping a server actor failed: %s", e)
        for a in actors:
            ray.kill(a)
        remove_placement_group(pg)
        if started:
            ray.shutdown()


class _Remote:
    """What ``wait_healthy`` needs of a server owned by an actor (its liveness is the actor's business)."""

    def __init__(self, url: str, log_path: Path):
        self.url, self.log_path = url, log_path

    def alive(self) -> bool:
        return True
