"""On-disk SQLite cache of search results and pages, keyed by provider + normalized query / URL.

Used by ``web.tools.WebTools``. Safe for many concurrent episodes (one connection guarded by a lock, calls run
in a worker thread) and for several processes sharing the file (WAL journal, busy timeout). Entries older than
the TTL are ignored unless the caller asks for replay (offline mode replays whatever was recorded).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx

_SCHEMA = """CREATE TABLE IF NOT EXISTS entries (
  key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"""


def normalize_query(query: str) -> str:
    """Cache form of a query: whitespace collapsed, case folded (search engines ignore case)."""
    return " ".join(query.split()).casefold()


def normalize_url(url: str) -> str:
    """Cache form of a URL: scheme and host lower-cased, default port and fragment dropped, empty path → ``/``.
    Falls back to the stripped string for URLs httpx cannot parse."""
    try:
        u = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, ValueError):
        return url.strip()
    default = {"http": 80, "https": 443}.get(u.scheme)
    port = None if u.port == default else u.port
    return str(u.copy_with(fragment=None, port=port, path=u.path or "/"))


class WebCache:
    """Key → JSON value with a creation time."""

    def __init__(self, path: str | Path, ttl_s: float | None):
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.execute(_SCHEMA)

    def get_sync(self, key: str, replay: bool = False) -> Any | None:
        """The value stored under ``key`` (None on a miss or an expired entry; ``replay`` ignores the TTL)."""
        with self._lock:
            row = self._db.execute("SELECT value, created FROM entries WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        if not replay and self.ttl_s is not None and time.time() - row[1] > self.ttl_s:
            return None
        return json.loads(row[0])

    def put_sync(self, key: str, value: Any) -> None:
        data = json.dumps(value, ensure_ascii=False)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO entries (key, value, created) VALUES (?, ?, ?)",
                             (key, data, time.time()))

    async def get(self, key: str, replay: bool = False) -> Any | None:
        return await asyncio.to_thread(self.get_sync, key, replay)

    async def put(self, key: str, value: Any) -> None:
        await asyncio.to_thread(self.put_sync, key, value)

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
