"""Wire formats of the remote engines: builders and parsers against hand-written server payloads."""

from __future__ import annotations

import pytest

from asearcher.errors import EngineError
from asearcher.inference.remote_backends import SGLangBackend, TensorSpec, VLLMBackend, _expand_spans
from asearcher.trainer.dist_sync import buckets
from asearcher.types import GenerateRequest

REQ = GenerateRequest(input_ids=[1, 2], max_new_tokens=10, temperature=0.7, stop=["</search>"],
                      stop_token_ids=[9], seed=3)


def test_sglang_generate_body_is_token_level_with_logprobs():
    call = SGLangBackend().build_generate(REQ, [1, 2, 5], 7)
    assert (call.method, call.path) == ("POST", "/generate")
    assert call.json["input_ids"] == [1, 2, 5]
    assert call.json["return_logprob"] is True and call.json["logprob_start_len"] == -1
    sp = call.json["sampling_params"]
    assert sp["max_new_tokens"] == 7 and sp["temperature"] == 0.7 and sp["stop_token_ids"] == [9]
    assert sp["no_stop_trim"] is True and sp["sampling_seed"] == 3 and "n" not in sp


def test_sglang_parse_pairs_spans_and_finish():
    body = {"text": "x", "output_ids": [4, 5, 9], "meta_info": {
        "output_token_logprobs": [[-0.1, 4, None], [-0.2, 5, None], [-0.3, 9, None]],
        "finish_reason": {"type": "stop", "matched": 9},
        "weight_versions": [{"version": "3", "start": 0, "end": 2}, {"version": "4", "start": 2, "end": 3}]}}
    chunk = SGLangBackend().parse_generate(body)
    assert chunk.ids == [4, 5, 9] and chunk.logprobs == [-0.1, -0.2, -0.3]
    assert chunk.finish == "eos"  # a stop *token* (kept in the ids), like the in-process engine
    assert chunk.versions == [3, 3, 4]
    body["meta_info"]["finish_reason"] = {"type": "stop", "matched": "</search>"}
    assert SGLangBackend().parse_generate(body).finish == "stop"
    body["meta_info"]["finish_reason"] = {"type": "abort", "message": "Abort before prefill"}
    body["meta_info"]["output_token_logprobs"] = []
    body["meta_info"]["weight_versions"] = []
    chunk = SGLangBackend().parse_generate(body)
    assert chunk.finish == "abort" and chunk.ids == [] and chunk.versions is None


def test_spans_with_gaps_or_strings_fall_back_to_client_versions():
    assert _expand_spans([{"version": "1", "start": 0, "end": 1}], 2) is None
    assert _expand_spans([{"version": "v1", "start": 0, "end": 2}], 2) is None
    assert _expand_spans([{"version": 7, "start": 0, "end": 2}], 2) == [7, 7]


def test_sglang_parse_rejects_missing_logprobs():
    with pytest.raises(EngineError, match="return_logprob"):
        SGLangBackend().parse_generate({"text": "x", "meta_info": {}})


def test_sglang_control_calls():
    b = SGLangBackend()
    assert b.pause_request("retract").json == {"mode": "retract"}
    with pytest.raises(EngineError, match="pause mode"):
        b.pause_request("keep")
    assert b.control("resume")[0].path == "/continue_generation"
    disk = b.control("disk_update", path="/ckpt/v3", version=3)[0]
    assert disk.path == "/update_weights_from_disk" and disk.json["weight_version"] == "3"
    init = b.control("init_group", master_address="127.0.0.1", master_port=1234, rank_offset=2, world_size=3,
                     group_name="g", backend="gloo")[0]
    assert init.json == {"master_address": "127.0.0.1", "master_port": 1234, "rank_offset": 2,
                         "world_size": 3, "group_name": "g", "backend": "gloo"}
    upd = b.control("dist_update", specs=[TensorSpec("w", "float32", [2, 3])], version=5, group_name="g")[0]
    assert upd.json["names"] == ["w"] and upd.json["shapes"] == [[2, 3]] and upd.json["weight_version"] == "5"


def test_vllm_completion_body_and_parse():
    call = VLLMBackend().build_generate(REQ, [1, 2], 10)
    assert call.path == "/v1/completions"
    body = call.json
    assert body["prompt"] == [1, 2] and body["logprobs"] == 0 and body["return_token_ids"] is True
    assert body["include_stop_str_in_output"] is True and body["max_tokens"] == 10
    resp = {"choices": [{"text": "ab", "token_ids": [4, 5], "finish_reason": "stop", "stop_reason": "</search>",
                         "logprobs": {"token_logprobs": [-1.0, -2.0]}}]}
    chunk = VLLMBackend().parse_generate(resp)
    assert (chunk.ids, chunk.logprobs, chunk.finish, chunk.versions) == ([4, 5], [-1.0, -2.0], "stop", None)
    resp["choices"][0].update(finish_reason="stop", stop_reason=None)
    assert VLLMBackend().parse_generate(resp).finish == "eos"
    resp["choices"][0].update(finish_reason="abort")
    assert VLLMBackend().parse_generate(resp).finish == "abort"
    resp["choices"][0]["logprobs"] = {"token_logprobs": [-1.0]}
    with pytest.raises(EngineError, match="2 output tokens but 1 logprobs"):
        VLLMBackend().parse_generate(resp)


def test_vllm_pause_and_disk_update_sequence():
    b = VLLMBackend()
    pause = b.pause_request("abort")
    assert pause.path == "/pause" and pause.params == {"mode": "abort", "clear_cache": "true"}
    calls = b.control("disk_update", path="/ckpt/v2", version=2)
    assert [c.path for c in calls] == ["/collective_rpc", "/reset_prefix_cache", "/update_weight_version"]
    assert calls[0].json == {"method": "reload_weights", "kwargs": {"weights_path": "/ckpt/v2"}}
    with pytest.raises(EngineError, match="disk sync"):
        b.control("init_group")


def test_buckets_keep_order_and_size():
    import torch

    named = [(f"p{i}", torch.zeros(n)) for i, n in enumerate([10, 10, 30, 5])]
    out = [[n for n, _ in b] for b in buckets(named, bucket_bytes=80)]
    assert out == [["p0", "p1"], ["p2"], ["p3"]]  # 40+40 bytes; 120 alone; 20
