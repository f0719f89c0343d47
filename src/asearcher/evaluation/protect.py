"""Benchmarks that must never be stored in plain text (xbench-DeepSearch, GAIA): the XOR + base64 scheme that
xbench distributes its CSVs with, used to decrypt inputs in memory and to encrypt evaluation outputs.

Talks to nobody: ``datasets`` decrypts xbench fields with it and marks protected examples; ``runner`` encrypts
protected trajectory records before they reach disk. This is obfuscation against crawling (the benchmarks'
request), not secrecy: the key (a "canary" string) travels with the data.
"""

from __future__ import annotations

import base64
import binascii

GAIA_CANARY = "asearcher: GAIA benchmark data, do not publish in plain text or train on it"
"""Key used for GAIA records in evaluation outputs (GAIA itself ships unencrypted)."""


def _xor(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % len(key)] for i, b in enumerate(data))


def decrypt(field: str, key: str) -> str:
    """``utf8(XOR(base64decode(field), key))``: the inverse of ``encrypt``.

    Raises:
        ValueError: ``field`` is not base64, or the result is not UTF-8 (wrong key).
    """
    if not key:
        raise ValueError("empty decryption key")
    try:
        raw = base64.b64decode(field, validate=False)
        return _xor(raw, key.encode("utf-8")).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as e:
        raise ValueError(f"cannot decrypt field ({type(e).__name__}): wrong key or not an encrypted field") from None


def encrypt(text: str, key: str) -> str:
    """``base64(XOR(utf8(text), key))`` — the format xbench-DeepSearch is distributed in."""
    if not key:
        raise ValueError("empty encryption key")
    return base64.b64encode(_xor(text.encode("utf-8"), key.encode("utf-8"))).decode("ascii")
