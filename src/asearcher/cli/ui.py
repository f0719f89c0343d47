"""``asearcher ui``: serve the web UI (ask page, trajectory inspector, run dashboard) on 127.0.0.1.

Talks to: ``config`` (file + overrides: the model, engine, knowledge source and agent the ask page uses by
default) and ``ui.app.create_app``, served with uvicorn. The model and the index load on the first question.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import socket

from asearcher.cli._common import add_config_args

log = logging.getLogger(__name__)


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", action="append", default=[], metavar="DIR",
                        help="a training run or evaluation output folder to inspect (repeatable)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to bind (default 127.0.0.1; anything else exposes the UI to the network)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860; 0 picks a free one)")
    add_config_args(parser)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from asearcher.config import ConfigError, TrainConfig, load_config

    cfg = load_config(TrainConfig, args.config, args.overrides)
    for d in args.run:
        if not Path(d).expanduser().is_dir():
            raise ConfigError(f"--run {d}: not a directory; give a training run or evaluation output folder")
    import uvicorn

    from asearcher.ui.app import create_app

    if not _is_loopback(args.host):
        log.warning("binding %s: anyone who can reach this machine can ask questions and read run folders",
                    args.host)
    extra = () if _is_loopback(args.host) else (args.host,)
    app = create_app(cfg, run_dirs=args.run, allowed_hosts=extra)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as e:
        raise ConfigError(f"cannot listen on {args.host}:{args.port} ({e}); pick another --port") from None
    port = sock.getsockname()[1]
    shown = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    print(f"asearcher UI on http://{shown}:{port}/  (Ctrl-C to stop)", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    return 0
