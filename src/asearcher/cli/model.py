"""``asearcher model``: inspect registry models (``info``, ``list``)."""

from __future__ import annotations

import argparse
import json


def add_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="model_cmd", metavar="ACTION", required=True)
    info = sub.add_parser("info", help="parameter count, dtype, tokenizer/chat template, cache path")
    info.add_argument("name", help="registry name (smollm2-135m, tiny-llama, tiny-qwen2), HF name or path")
    info.add_argument("--json", action="store_true", help="print JSON")
    sub.add_parser("list", help="list registry names")


def run(args: argparse.Namespace) -> int:
    from asearcher import models

    if args.model_cmd == "list":
        for spec in models.REGISTRY.values():
            print(f"{spec.name:16s} {spec.description}")
        return 0
    info = models.model_info(args.name)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for k, v in info.items():
            print(f"{k:16s} {v:,}" if isinstance(v, int) and not isinstance(v, bool) else f"{k:16s} {v}")
    return 0
