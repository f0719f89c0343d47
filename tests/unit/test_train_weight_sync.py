"""Weight sync: disk format (safetensors + STABLE marker + version, atomic, pruned) and the in-process path."""

from __future__ import annotations

import asyncio
import copy

import torch

from asearcher.config import TrainerConfig
from asearcher.trainer.local import LocalTrainEngine
from asearcher.trainer.weight_sync import DiskSync, InProcessSync, latest_weights, read_marker


class Recorder:
    def __init__(self):
        self.calls = []

    async def update_weights(self, version, state_dict=None, path=None):
        self.calls.append((version, state_dict is not None, path))


def test_disk_sync_writes_marked_versions_and_prunes(tiny_llama, tmp_path):
    model, _ = tiny_llama
    train = LocalTrainEngine(copy.deepcopy(model), TrainerConfig())
    sync = DiskSync(train, tmp_path / "weights", keep=2)
    eng = Recorder()
    for v in (1, 2, 3):
        asyncio.run(sync.push(eng, v))
    assert [c[0] for c in eng.calls] == [1, 2, 3] and eng.calls[-1][2].endswith("v3")
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == ["v2", "v3"]
    assert read_marker(tmp_path / "weights" / "v3") == 3 and latest_weights(tmp_path / "weights")[0] == 3
    (tmp_path / "weights" / "v9").mkdir()  # no marker: ignored by readers
    assert latest_weights(tmp_path / "weights")[0] == 3
    from safetensors.torch import load_file

    sd = load_file(str(tmp_path / "weights" / "v3" / "model.safetensors"))
    assert torch.equal(sd["model.embed_tokens.weight"], train.model.model.embed_tokens.weight)


def test_in_process_sync_hands_over_state_dict(tiny_llama):
    model, _ = tiny_llama
    train = LocalTrainEngine(copy.deepcopy(model), TrainerConfig())
    eng = Recorder()
    asyncio.run(InProcessSync(train).push(eng, 7))
    assert eng.calls == [(7, True, None)]
