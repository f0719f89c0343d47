"""Which memory allocator the ``asearcher`` command runs with.

PyTorch on CPU allocates and frees tensors of tens of MB at every layer of every step. Under glibc's malloc
a long training process slows down as it goes: the default run's warm start fell from ~225 to ~170 tokens/s
over 24 steps (and to 112 by step 27 in one run), with up to a third of the training thread's time inside
``posix_memalign``; tuning glibc with ``mallopt`` (no trimming, a fixed mmap threshold) did not change it.
With jemalloc the same 24 steps held 225–280 tokens/s (539.7 s against 727.7 s, 1.35×) (docs/LOG.md, 2026-11-27 session 6;
``bench/malloc.py`` measures it on this machine).

jemalloc (or tcmalloc) replaces malloc only when it is loaded before the C library's, i.e. through
``LD_PRELOAD`` at process start, so :func:`reexec_with_allocator` re-executes the command once with the
library preloaded — what launchers such as Intel's ``ipexrun`` do for PyTorch on CPU. ``ASEARCHER_MALLOC``:

- ``auto`` (default): jemalloc if the system has it (Debian/Ubuntu: ``apt install libjemalloc2``), else
  tcmalloc (``libtcmalloc-minimal4``), else glibc's malloc with a hint in the log;
- ``jemalloc`` / ``tcmalloc``: that one, or an error saying how to install it;
- ``system``: never re-execute.

The re-executed process takes its own entry back out of ``LD_PRELOAD``, so the programs it starts (engine
servers, a browser) get the user's environment; ``asearcher`` processes it starts choose again.
"""

from __future__ import annotations

import ctypes.util
import logging
import os
import sys
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

ENV = "ASEARCHER_MALLOC"
LOADED = "ASEARCHER_MALLOC_LOADED"  # set in the re-executed process: name=library it preloaded
MODES = ("auto", "jemalloc", "tcmalloc", "system")
# library names for ctypes.util.find_library, best first, and the package that ships them
LIBRARIES = {"jemalloc": ("jemalloc", "libjemalloc2"), "tcmalloc": ("tcmalloc_minimal", "libtcmalloc-minimal4")}


def mode_of(env: Mapping[str, str]) -> str:
    mode = env.get(ENV, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ValueError(f"{ENV}={env[ENV]!r}: use one of {', '.join(MODES)} (default auto: jemalloc or tcmalloc "
                         "when installed)")
    return mode


def plan(env: Mapping[str, str], find: Callable[[str], str | None] = ctypes.util.find_library,
         platform: str = sys.platform) -> tuple[str, str] | None:
    """The allocator to preload as (name, library), or None to run as is: mode ``system``, not Linux, this
    process already preloads one (ours or the user's own ``LD_PRELOAD``), or none installed under ``auto``."""
    mode = mode_of(env)
    preload = env.get("LD_PRELOAD", "")
    if mode == "system" or platform != "linux" or LOADED in env or "jemalloc" in preload or "tcmalloc" in preload:
        return None
    names = [mode] if mode != "auto" else list(LIBRARIES)
    for name in names:
        lib = find(LIBRARIES[name][0])
        if lib:
            return name, lib
    if mode != "auto":
        raise ValueError(f"{ENV}={mode}: lib{LIBRARIES[mode][0]} is not installed (Debian/Ubuntu: apt install "
                         f"{LIBRARIES[mode][1]}), or set {ENV}=auto / system")
    return None


def reexec_with_allocator(argv: list[str], env: Mapping[str, str] | None = None) -> None:
    """Re-execute this process (``sys.executable`` + ``argv``) with the planned allocator preloaded; returns
    only when there is nothing to do. Call it before anything heavy is imported."""
    env = dict(os.environ if env is None else env)
    chosen = plan(env)
    if chosen is None:
        return
    name, lib = chosen
    env["LD_PRELOAD"] = f"{lib}:{env['LD_PRELOAD']}" if env.get("LD_PRELOAD") else lib
    env[LOADED] = f"{name}={lib}"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *argv], env)


HEAVY = {"train", "sft", "eval", "launch"}


def settle_environment(command: str | None = None) -> str:
    """In the process started by :func:`reexec_with_allocator`: take our library back out of ``LD_PRELOAD``
    (the programs it starts get the user's environment; ``asearcher`` ones choose again) and return its name.
    Elsewhere return "glibc" and, for a training or evaluation ``command`` under ``auto`` on Linux, log how to
    install jemalloc."""
    loaded = os.environ.pop(LOADED, None)
    if loaded:
        name, _, lib = loaded.partition("=")
        rest = [p for p in os.environ.get("LD_PRELOAD", "").split(":") if p and p != lib]
        if rest:
            os.environ["LD_PRELOAD"] = ":".join(rest)
        else:
            os.environ.pop("LD_PRELOAD", None)
        log.debug("memory allocator: %s (%s)", name, lib)
        return name
    if command in HEAVY and sys.platform == "linux" and os.environ.get(ENV, "auto").strip().lower() in ("auto", ""):
        preload = os.environ.get("LD_PRELOAD", "")
        if "jemalloc" not in preload and "tcmalloc" not in preload:
            log.info("memory allocator: glibc malloc — CPU training slows down as it runs; with jemalloc installed "
                     "(apt install libjemalloc2) asearcher uses it (docs/LOG.md 2026-11-27 session 6)")
    return "glibc"
