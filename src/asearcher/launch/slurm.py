"""Slurm launcher: renders one sbatch script (pure) for the allocation of a ``LaunchConfig``.

Layout (after AReaL's Slurm launcher, notes/engines.md §8): the first nodes run the inference servers (one
background ``srun`` per node, several servers per node when they need fewer GPUs than a node has), each
server publishes ``host:port`` into a registry directory on shared storage; the last ``trainer.nodes`` nodes
run ``torchrun --nnodes N --node-rank $SLURM_PROCID`` over ``asearcher.launch.worker``, which reads the
registry (``--engine-urls @DIR``). The script ends when the trainer does and then stops the servers.
"""

from __future__ import annotations

import math
import shlex

from asearcher.config.launch import LaunchConfig
from asearcher.errors import ConfigError
from asearcher.launch.servers import QUIET_ENV, server_command


def servers_per_node(lc: LaunchConfig) -> int:
    g = lc.servers.gpus_per_server
    if g == 0:
        return 1
    if g > lc.slurm.gpus_per_node:
        raise ConfigError(f"servers.gpus_per_server={g} exceeds slurm.gpus_per_node={lc.slurm.gpus_per_node}")
    return lc.slurm.gpus_per_node // g


def render_sbatch(lc: LaunchConfig, launch_yaml: str, model_dir: str) -> str:
    """The sbatch script text. ``launch_yaml``: the resolved launch config on shared storage."""
    s = lc.slurm
    per_node = servers_per_node(lc)
    server_nodes = math.ceil(lc.servers.replicas / per_node)
    nodes = server_nodes + lc.trainer.nodes
    servers_cfg = lc.servers.model_copy(update={"python": lc.servers.python or "python"})
    wrap = f"singularity exec --nv {shlex.quote(s.container)} " if s.container else ""
    head = ["#!/bin/bash", f"#SBATCH --job-name={s.job_name}", f"#SBATCH --nodes={nodes}",
            "#SBATCH --ntasks-per-node=1", f"#SBATCH --gpus-per-node={s.gpus_per_node}",
            f"#SBATCH --cpus-per-task={s.cpus_per_task}", f"#SBATCH --mem={s.mem}", f"#SBATCH --time={s.time}",
            f"#SBATCH --output={lc.out}/logs/slurm-%j.out"]
    if s.partition:
        head.append(f"#SBATCH --partition={s.partition}")
    if s.account:
        head.append(f"#SBATCH --account={s.account}")
    body = ["set -euo pipefail", *s.setup,
            "export " + " ".join(f"{k}={v}" for k, v in QUIET_ENV.items()),
            f'export REGISTRY="{s.registry_dir}"', 'rm -rf "$REGISTRY" && mkdir -p "$REGISTRY"',
            f"mkdir -p {shlex.quote(lc.out)}/logs",
            'mapfile -t NODES < <(scontrol show hostnames "$SLURM_JOB_NODELIST")', "SERVER_STEPS=()", "",
            f"# {lc.servers.replicas} x {lc.servers.type} server(s), {per_node} per node, "
            f"{lc.servers.gpus_per_server} GPU(s) each"]
    port0 = lc.servers.base_port or 30000
    for n in range(server_nodes):
        lines = ['HOST=$(hostname --ip-address | cut -d" " -f1)']
        for j in range(per_node):
            k = n * per_node + j
            if k >= lc.servers.replicas:
                break
            g = lc.servers.gpus_per_server
            gpus = ",".join(str(x) for x in range(j * g, (j + 1) * g))
            cmd = server_command(servers_cfg, model_dir, "0.0.0.0", port0 + j).shell(skip_env=tuple(QUIET_ENV))
            visible = f"CUDA_VISIBLE_DEVICES={gpus} " if g else ""
            lines.append(f"{visible}{wrap}{cmd} > {lc.out}/logs/server_{k}.log 2>&1 &")
            lines.append(f'echo "$HOST:{port0 + j}" > "$REGISTRY/server_{k:03d}.addr"')
        lines.append("wait")
        script = "\n".join(lines)
        body.append(f'srun --nodes=1 --ntasks=1 --nodelist="${{NODES[{n}]}}" bash -c {shlex.quote(script)} &')
        body.append("SERVER_STEPS+=($!)")
    t = lc.trainer
    body += ["",
             f"# trainer: {t.nodes} node(s) x {t.procs_per_node} rank(s)",
             f'TRAIN_NODES=$(printf "%s," "${{NODES[@]:{server_nodes}:{t.nodes}}}")',
             f'MASTER_ADDR=$(srun --nodes=1 --ntasks=1 --nodelist="${{NODES[{server_nodes}]}}" '
             'hostname --ip-address | cut -d" " -f1)',
             "export MASTER_ADDR MASTER_PORT=29500 ASEARCHER_SYNC_HOST=$MASTER_ADDR"]
    torchrun = (f"{wrap}torchrun --nnodes {t.nodes} --nproc-per-node {t.procs_per_node} "
                "--node-rank $SLURM_PROCID --master-addr $MASTER_ADDR --master-port $MASTER_PORT "
                f"-m asearcher.launch.worker --launch-config {shlex.quote(launch_yaml)} --engine-urls @$REGISTRY")
    body += [f'srun --nodes={t.nodes} --ntasks={t.nodes} --nodelist="${{TRAIN_NODES%,}}" '
             f"bash -c {shlex.quote(torchrun)} && STATUS=0 || STATUS=$?",
             'kill "${SERVER_STEPS[@]}" 2>/dev/null || true', "exit $STATUS"]
    return "\n".join(head + [""] + body) + "\n"
