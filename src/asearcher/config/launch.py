"""Launch section: the allocation of a distributed run (inference servers × GPUs, trainer processes) and the
launcher that places it (``local`` subprocesses + torchrun, ``ray`` actors, ``slurm`` sbatch script).

Read by ``asearcher launch`` (``cli/launch.py``) and ``asearcher.launch``. Imports no torch.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from asearcher.config.base import Section


class ServersConfig(Section):
    """The inference servers (data-parallel replicas)."""

    type: Literal["fake", "vllm", "sglang"] = "fake"
    """``vllm``/``sglang``: the real servers; ``fake``: asearcher's test server (HF transformers, CPU)."""
    model: str | None = None
    """What the servers load (path or hub name); None = the train config's ``model.name`` (resolved locally)."""
    replicas: int = Field(default=1, ge=1)
    """Number of servers; trajectories are routed to them with stickiness."""
    gpus_per_server: int = Field(default=0, ge=0)
    """GPUs per server = tensor-parallel size; 0 runs the server on CPU (vLLM CPU build, fake server)."""
    python: str | None = None
    """Interpreter that runs the server (e.g. ``.venv-vllm/bin/python``); None = this interpreter."""
    base_port: int = Field(default=0, ge=0)
    """Port of server 0 (server k uses ``base_port + k``); 0 picks free ports (local and Ray)."""
    dtype: str = "auto"
    """Server weight dtype (``auto``: float32 on CPU, bfloat16 on GPUs)."""
    max_model_len: int = Field(default=4096, ge=64)
    """vLLM/SGLang context length."""
    extra_args: list[str] = Field(default_factory=list)
    """Appended verbatim to the server command line."""
    startup_timeout_s: float = Field(default=600.0, gt=0)
    """How long to wait for every server's ``/health`` before giving up."""
    pause_mode: str = "abort"
    """Pause mode used around weight updates (SGLang ``abort|retract|in_place``, vLLM ``abort|keep|wait``)."""


class TrainerAllocConfig(Section):
    """The trainer processes (torchrun)."""

    nodes: int = Field(default=1, ge=1)
    """Trainer nodes (Slurm); local and Ray runs use one."""
    procs_per_node: int = Field(default=1, ge=1)
    """Trainer ranks per node (= GPUs per node on GPU machines). More than one in total uses FSDP2."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """``auto``: CUDA + NCCL when GPUs are visible, else CPU + gloo."""
    colocate: bool = False
    """Put the trainer on the servers' GPUs instead of the next ones (single-GPU machines: also cap the
    server's memory, e.g. vLLM ``--gpu-memory-utilization 0.3`` in ``servers.extra_args``)."""
    weight_sync: Literal["disk", "distributed"] = "disk"
    """``disk``: safetensors dirs + reload on every server (works everywhere); ``distributed``: rank 0 broadcasts
    over a separate process group (gloo on CPU, NCCL on GPUs; SGLang and the fake server)."""
    sync_backend: Literal["auto", "gloo", "nccl"] = "auto"
    """Distributed sync backend: ``auto`` = NCCL when the trainer is on GPUs, else gloo. NCCL needs every rank
    on its own GPU: with a colocated single-GPU setup use gloo (CPU staging)."""
    bucket_mb: float = Field(default=256.0, gt=0)
    """Distributed sync: bucket size (one HTTP announcement per bucket per server)."""
    parity_probe: bool = True
    """After every weight update, compare server and trainer logprobs on a fixed prompt; a mismatch fails."""
    probe_atol: float = Field(default=1e-3, gt=0)
    """Probe tolerance: ~1e-5 agreement is expected in fp32 on CPU; use ~5e-2 for bf16 servers."""


class SlurmConfig(Section):
    """What ``--launcher slurm`` writes into the sbatch script."""

    job_name: str = "asearcher"
    """``#SBATCH --job-name``."""
    partition: str | None = None
    """``#SBATCH --partition`` (None = the cluster default)."""
    account: str | None = None
    """``#SBATCH --account``."""
    time: str = "24:00:00"
    """``#SBATCH --time`` wall-clock limit."""
    gpus_per_node: int = Field(default=8, ge=0)
    """GPUs of one node (``--gpus-per-node``)."""
    cpus_per_task: int = Field(default=16, ge=1)
    """CPUs per srun task."""
    mem: str = "0"
    """``#SBATCH --mem`` (0 = all of the node's memory)."""
    registry_dir: str = "$HOME/.asearcher/registry/$SLURM_JOB_ID"
    """Shared-storage directory where servers publish ``host:port`` and the trainer reads them."""
    setup: list[str] = Field(default_factory=list)
    """Shell lines run first on every node (``module load …``, ``source venv/bin/activate``)."""
    container: str | None = None
    """Optional container image: each srun runs ``singularity exec --nv IMAGE ...``."""


class LaunchConfig(Section):
    """Everything ``asearcher launch`` needs; ``train_config`` is the usual ``asearcher train`` config."""

    launcher: Literal["local", "ray", "slurm"] = "local"
    """Default launcher (``--launcher`` overrides it)."""
    out: str = "runs/launch"
    """Run directory: logs of every process, the resolved configs, weights, metrics."""
    train_config: str | None = None
    """``asearcher train`` config file (model, rollout, trainer …); None = its defaults."""
    train_overrides: list[str] = Field(default_factory=list)
    """Dotted overrides applied to the train config (``trainer.steps=2``)."""
    job: Literal["train", "smoke"] = "train"
    """``train``: the full ``asearcher train`` pipeline against the servers (one trainer rank, disk sync);
    ``smoke``: a toy QA task over static passages with any trainer world size and sync (checks the servers,
    FSDP, weight sync and the parity probe end to end in about a minute)."""
    host: str = "127.0.0.1"
    """Address servers bind to and the trainer's rendezvous uses on one machine (keep loopback for tests)."""
    servers: ServersConfig = Field(default_factory=ServersConfig)
    trainer: TrainerAllocConfig = Field(default_factory=TrainerAllocConfig)
    slurm: SlurmConfig = Field(default_factory=SlurmConfig)

    @model_validator(mode="after")
    def _check(self) -> LaunchConfig:
        if self.trainer.weight_sync == "distributed" and self.servers.type == "vllm":
            raise ValueError("trainer.weight_sync=distributed is not available with vLLM servers here; "
                             "use weight_sync: disk (or SGLang servers)")
        return self

    @property
    def trainer_world(self) -> int:
        """Total trainer ranks."""
        return self.trainer.nodes * self.trainer.procs_per_node
