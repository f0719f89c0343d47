"""RemoteEngine against the fake SGLang/vLLM server (in a thread): exact logprobs, pause modes with the
client resume loop and per-token versions, stickiness, retries of injected faults, disk updates with the
parity probe, and the probe catching wrong weights and raw-vs-processed logprobs."""

from __future__ import annotations

import asyncio
import copy

import pytest
import torch

from asearcher.errors import EngineError
from asearcher.inference.fake_server import FakeServer, ServerThread
from asearcher.inference.remote import ParityProbe, RemoteEngine, model_scorer
from asearcher.inference.remote_backends import HttpCall, make_backend
from asearcher.types import GenerateRequest


@pytest.fixture
def server(tiny_qwen2):
    model, tok = tiny_qwen2
    srv = FakeServer(copy.deepcopy(model), tok)
    th = ServerThread(srv.app)
    yield srv, th.url
    th.stop()


def _req(n=12, **kw):
    return GenerateRequest(input_ids=[5, 6, 7, 8], max_new_tokens=n, temperature=kw.pop("temperature", 0.8), **kw)


@pytest.mark.parametrize("kind", ["sglang", "vllm"])
def test_logprobs_match_the_trainer_model(server, tiny_qwen2, kind):
    srv, url = server
    eng = RemoteEngine([url], make_backend(kind), tokenizer=tiny_qwen2[1])
    r = asyncio.run(eng.generate(_req(seed=1)))
    assert r.finish_reason == "length" and len(r.output_ids) == 12 and r.output_versions == [0] * 12
    expected = model_scorer(tiny_qwen2[0])([5, 6, 7, 8], r.output_ids, 0.8)
    assert max(abs(a - b) for a, b in zip(expected, r.output_logprobs, strict=True)) < 1e-4
    stop_tok = r.output_ids[2]
    r2 = asyncio.run(eng.generate(_req(seed=1, stop_token_ids=[stop_tok])))
    assert r2.finish_reason == "eos" and r2.output_ids[-1] == stop_tok


@pytest.mark.parametrize("kind,mode", [("sglang", "abort"), ("vllm", "abort"), ("sglang", "retract")])
def test_pause_update_resume_splits_versions(server, kind, mode):
    srv, url = server
    eng = RemoteEngine([url], make_backend(kind), pause_mode=mode)

    async def run():
        task = asyncio.create_task(eng.generate(_req(n=300, session_id="t1")))
        while srv.stats["generate"] == 0:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        await eng.pause()
        await eng.update_weights(1)
        await eng.resume()
        return await task

    r = asyncio.run(run())
    assert len(r.output_ids) == 300 and r.finish_reason == "length"
    k = r.output_versions.index(1)
    assert 0 < k < 300 and r.output_versions == [0] * k + [1] * (300 - k)
    assert srv.stats["aborted" if mode == "abort" else "retracted"] >= 1


def test_sticky_sessions_and_two_servers(tiny_qwen2):
    model, tok = tiny_qwen2
    servers = [FakeServer(model, tok) for _ in range(2)]
    threads = [ServerThread(s.app) for s in servers]
    try:
        eng = RemoteEngine([t.url for t in threads], make_backend("sglang"))

        async def run():
            await asyncio.gather(*(eng.generate(_req(n=4, session_id=f"s{i}")) for i in range(4)))
            before = [s.stats["generate"] for s in servers]
            pins = {f"s{i}": eng.server_of(f"s{i}") for i in range(4)}
            for _ in range(3):
                await eng.generate(_req(n=2, session_id="s0"))
            return before, pins

        before, pins = asyncio.run(run())
        assert sorted(before) == [2, 2]  # least-loaded placement spreads new trajectories
        assert servers[pins["s0"]].stats["generate"] == before[pins["s0"]] + 3
        assert servers[1 - pins["s0"]].stats["generate"] == before[1 - pins["s0"]]
        eng.release("s0")
        assert eng.server_of("s0") is None
    finally:
        for t in threads:
            t.stop()


def test_transport_faults_are_retried_then_fail_loudly(server):
    srv, url = server
    eng = RemoteEngine([url], make_backend("sglang"), retries=2, backoff_s=0.01)

    async def run():
        await eng.call(0, HttpCall("POST", "/_fault", {"fail_next": 1, "drop_next": 1}))
        ok = await eng.generate(_req(n=3))
        await eng.call(0, HttpCall("POST", "/_fault", {"fail_next": 5}))
        with pytest.raises(EngineError, match="failed after 3 tries"):
            await eng.generate(_req(n=3))
        return ok

    assert len(asyncio.run(run()).output_ids) == 3


def _save(model, path):
    from safetensors.torch import save_file

    path.mkdir()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path / "model.safetensors"))


@pytest.mark.parametrize("kind", ["sglang", "vllm"])
def test_disk_update_then_probe(server, tiny_qwen2, tmp_path, kind):
    srv, url = server
    trained = copy.deepcopy(tiny_qwen2[0])
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.05 * torch.randn_like(p))
    _save(trained, tmp_path / "v1")
    eng = RemoteEngine([url], make_backend(kind), probe=ParityProbe(model_scorer(trained), [5, 6, 7], temperature=0.7))

    async def run():
        await eng.pause()
        await eng.update_weights(1, path=str(tmp_path / "v1"))
        await eng.resume()  # runs the probe: passes, the server now has the trainer's weights
        r = await eng.generate(_req(n=4))
        # A server that silently kept the old weights is caught.
        await eng.pause()
        srv.model.load_state_dict(tiny_qwen2[0].state_dict())
        await eng.update_weights(2)
        eng._probe_due = True
        with pytest.raises(EngineError, match="parity probe failed"):
            await eng.resume()
        return r

    assert asyncio.run(run()).output_versions == [1] * 4
    assert srv.version == "2" and srv.stats["updates"] == 1


def test_probe_catches_raw_logprobs_with_temperature(tiny_qwen2):
    model, tok = tiny_qwen2
    th = ServerThread(FakeServer(model, tok, logprobs_mode="raw").app)
    try:
        eng = RemoteEngine([th.url], make_backend("vllm"), probe=ParityProbe(model_scorer(model), [5, 6], temperature=0.5))
        with pytest.raises(EngineError, match="processed_logprobs"):
            asyncio.run(eng.check_parity())
        eng.probe.temperature = 1.0
        assert asyncio.run(eng.check_parity()) < 1e-4
    finally:
        th.stop()


@pytest.mark.parametrize("tied", [False, True])
def test_state_dict_without_side_group_goes_through_disk(tiny_qwen2, tiny_llama, tied):
    model, tok = tiny_llama if tied else tiny_qwen2  # tiny-llama ties lm_head to the embeddings
    srv = FakeServer(copy.deepcopy(model), tok)
    th = ServerThread(srv.app)
    url = th.url
    trained = copy.deepcopy(model)
    with torch.no_grad():
        for p in trained.parameters():
            p.mul_(1.1)
    eng = RemoteEngine([url], make_backend("sglang"), probe=ParityProbe(model_scorer(trained), [5, 6, 7]))

    async def run():
        await eng.pause()
        await eng.update_weights(3, state_dict=trained.state_dict())
        await eng.resume()  # probe passes: the server loaded exactly these tensors

    try:
        asyncio.run(run())
    finally:
        th.stop()
    assert srv.version == "3" and srv.stats["updates"] == 1


def test_distributed_sync_to_two_servers_over_a_gloo_side_group(tiny_qwen2):
    from asearcher.trainer.dist_sync import DistributedWeightSync

    model, tok = tiny_qwen2
    servers = [FakeServer(copy.deepcopy(model), tok) for _ in range(2)]
    threads = [ServerThread(s.app) for s in servers]
    trained = copy.deepcopy(model)
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.02)
    try:
        eng = RemoteEngine([t.url for t in threads], make_backend("sglang"),
                           probe=ParityProbe(model_scorer(trained), [5, 6, 7]))
        sender = DistributedWeightSync("gloo", bucket_mb=0.1)  # several buckets for this model

        async def run():
            await sender.connect(eng)
            await eng.pause()
            await eng.update_weights(4, state_dict=trained.state_dict())
            await eng.resume()  # probe on both servers
            await sender.close(eng)

        asyncio.run(run())
        assert all(s.version == "4" and s.stats["updates"] >= 2 and s.group is None for s in servers)
        assert sender.bytes_sent == sum(t.numel() * 4 for t in trained.state_dict().values())
    finally:
        for t in threads:
            t.stop()
