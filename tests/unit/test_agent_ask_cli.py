"""``asearcher ask``: config resolution from file/overrides/flags, and the command end to end with a
scripted engine and in-memory tools (readable and ``--json`` output)."""

from __future__ import annotations

import json

import pytest

import asearcher.cli.ask as ask
from asearcher.cli.main import build_parser, main
from asearcher.errors import ConfigError
from asearcher.inference.fake import ScriptedEngine
from asearcher.tools import StaticTools
from asearcher.types import Hit, Trajectory


def _args(*argv):
    return build_parser().parse_args(["ask", *argv])


def test_flags_override_file_and_dotted_overrides(tmp_path):
    conf = tmp_path / "c.yaml"
    conf.write_text("agent:\n  max_turns: 7\n  type: search-r1\nknowledge:\n  topk: 4\n")
    cfg = ask.resolve_config(_args("q?", "agent.max_new_tokens=33", "--config", str(conf), "--max-turns", "5",
                                   "--index", "/tmp/idx", "--temperature", "0"))
    assert (cfg.agent.max_turns, cfg.agent.type, cfg.agent.max_new_tokens, cfg.agent.temperature) == (5, "search-r1", 33, 0.0)
    assert (cfg.knowledge.source, cfg.knowledge.index_dir, cfg.knowledge.topk) == ("index", "/tmp/idx", 4)
    cfg = ask.resolve_config(_args("q?", "--server", "http://127.0.0.1:9", "--agent", "reasoning", "--model", "m"))
    assert (cfg.knowledge.source, cfg.knowledge.server_url, cfg.agent.type, cfg.model.name) == \
        ("server", "http://127.0.0.1:9", "reasoning", "m")
    assert ask.resolve_config(_args("q?")).knowledge.source == "world"


def test_bad_flag_values_are_config_errors():
    with pytest.raises(ConfigError, match="agent.max_turns"):
        ask.resolve_config(_args("q?", "--max-turns", "0"))
    with pytest.raises(SystemExit):
        _args("q?", "--index", "a", "--server", "b")  # one source at a time


@pytest.fixture
def fake_backends(monkeypatch, tiny_tokenizer):
    engines = []

    def build_engine(model_cfg, engine_cfg, tokenizer=None):
        engines.append(ScriptedEngine(tokenizer, ["Let me look.</think>\n<search>Ostravin</search>",
                                                  "Found it.</think>\n<answer>Ostravin</answer>"]))
        return engines[-1]

    hits = [Hit(id="p1", title="Zorba", contents="Zorba [b]was[/b] born in Ostravin.", url="https://w/Zorba")]
    monkeypatch.setattr("asearcher.inference.factory.build_engine", build_engine)
    monkeypatch.setattr("asearcher.models.load_tokenizer", lambda name: tiny_tokenizer)
    monkeypatch.setattr(ask, "open_source", lambda cfg: StaticTools(hits))
    return engines


def test_ask_prints_the_trajectory_readably(fake_backends, capsys):
    assert main(["ask", "Where was Zorba born?", "--max-turns", "4"]) == 0
    out = capsys.readouterr().out
    for piece in ("thought Let me look.", "search Ostravin", "result <information>", "[b]was[/b]",
                  "answer Ostravin", "finish=answer answer='Ostravin' calls=2 searches=1"):
        assert piece in out
    assert fake_backends[0].released and len(fake_backends[0].requests) == 2


def test_ask_json_is_one_trajectory_with_token_data(fake_backends, capsys):
    assert main(["ask", "Where was Zorba born?", "--json", "--agent", "search-r1"]) == 0
    out = capsys.readouterr().out
    traj = Trajectory.model_validate(json.loads(out))
    assert out.count("\n") == 1 and traj.answer == "Ostravin" and traj.agent == "search-r1"
    assert traj.calls[0].input_ids and traj.calls[1].output_logprobs == [-0.5] * len(traj.calls[1].output_ids)
    assert traj.calls[1].output_versions == [0] * len(traj.calls[1].output_ids)


def test_a_sampling_temperature_flag_is_accepted_and_given_to_the_trainer():
    # the trainer's temperature must equal the agent's; ask only samples, so the flag sets both
    cfg = ask.resolve_config(_args("q?", "--temperature", "0.5"))
    assert cfg.agent.temperature == cfg.trainer.temperature == 0.5
