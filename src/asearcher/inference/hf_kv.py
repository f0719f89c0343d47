"""KV storage of the in-process engine (``hf.HFEngine``): a slot buffer for the running batch and an LRU of
finished trajectories' caches (prefix reuse). Talks to transformers only through its ``Cache`` seam.

Why slots, not left-padded ``DynamicCache``s: sequences join and leave the batch at every turn of every
episode. A left-padded batch must be rebuilt (all KV copied) on each membership change, and ``DynamicCache``
copies the whole cache every step (``torch.cat``). Here each running sequence owns one row of a preallocated
buffer ``[layers, 2, rows, kv_heads, cols, head_dim]`` and writes its new keys/values at its own column
(right padding, per-row lengths). Joining costs a copy of that row's reused prefix, leaving a copy of that
row (into the session cache) and a move of the last row into the hole; other rows are never touched.
Measured on SmolLM2 (2 CPU cores): re-padding 8 rows x 2000 tokens costs ~0.25 s, about two decode steps.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicLayer


class _SlotWriter(Cache):
    """A transformers ``Cache`` for one forward pass that writes new keys/values into ``KVSlots`` rows.

    Decode: rows ``0..n-1`` write one token each at column ``positions[i]``; attention sees columns ``:width``.
    Prefill: one row writes ``q`` tokens at columns ``start..start+q-1``; attention sees ``:start+q``.
    The caller passes a matching 4D mask, so transformers never asks this cache for lengths.
    """

    def __init__(self, slots: KVSlots, rows: slice, positions: torch.Tensor | None, start: int, width: int):
        super().__init__(layers=[DynamicLayer() for _ in range(slots.n_layers)])
        self._slots, self._rows, self._positions, self._start, self._width = slots, rows, positions, start, width

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        buf = self._slots.buf
        k_buf, v_buf = buf[layer_idx, 0], buf[layer_idx, 1]  # [rows, heads, cols, dim]
        if self._positions is not None:  # decode: one new token per row, each at its own column
            idx = torch.arange(key_states.shape[0], device=buf.device)
            k_buf[idx, :, self._positions, :] = key_states[:, :, 0, :].to(buf.dtype)
            v_buf[idx, :, self._positions, :] = value_states[:, :, 0, :].to(buf.dtype)
        else:  # prefill of one row
            q = key_states.shape[2]
            row = self._rows.start
            k_buf[row, :, self._start:self._start + q, :] = key_states[0].to(buf.dtype)
            v_buf[row, :, self._start:self._start + q, :] = value_states[0].to(buf.dtype)
        return k_buf[self._rows, :, : self._width, :], v_buf[self._rows, :, : self._width, :]


class KVSlots:
    """Preallocated per-row KV buffer for the running batch; grows (by doubling) in rows and columns.

    Unused columns hold zeros or stale finite values; the attention mask hides them (zeros, not
    ``torch.empty``: masked NaNs would still poison the softmax-weighted sum).
    """

    def __init__(self, n_layers: int, n_kv_heads: int, head_dim: int, dtype: torch.dtype, device: torch.device,
                 max_rows: int, max_cols: int):
        self.n_layers, self.n_kv_heads, self.head_dim = n_layers, n_kv_heads, head_dim
        self.dtype, self.device = dtype, device
        self.max_rows, self.max_cols = max_rows, max_cols
        self.buf = torch.zeros(n_layers, 2, 0, n_kv_heads, 0, head_dim, dtype=dtype, device=device)

    @property
    def rows(self) -> int:
        return self.buf.shape[2]

    @property
    def cols(self) -> int:
        return self.buf.shape[4]

    def ensure(self, rows: int, cols: int) -> None:
        """Grow the buffer to at least ``rows`` x ``cols`` (amortised doubling, capped at the maxima)."""
        if rows <= self.rows and cols <= self.cols:
            return
        if rows > self.max_rows or cols > self.max_cols:
            raise ValueError(f"KV slots: need {rows} rows x {cols} cols, limit {self.max_rows} x {self.max_cols}")
        new_rows = min(self.max_rows, max(rows, self.rows * 2 if rows > self.rows else self.rows))
        new_cols = self.cols
        if cols > self.cols:
            new_cols = min(self.max_cols, max(-(-cols // 256) * 256, self.cols * 2))
        new = torch.zeros(self.n_layers, 2, new_rows, self.n_kv_heads, new_cols, self.head_dim,
                          dtype=self.dtype, device=self.device)
        new[:, :, : self.rows, :, : self.cols] = self.buf
        self.buf = new

    def free(self) -> None:
        """Release the buffer (it is reallocated on demand)."""
        self.buf = self.buf.new_zeros(self.n_layers, 2, 0, self.n_kv_heads, 0, self.head_dim)

    def load_row(self, row: int, kv: torch.Tensor) -> None:
        """Copy a session's cached ``kv`` (``[layers, 2, heads, L, dim]``) into columns ``:L`` of ``row``."""
        self.buf[:, :, row, :, : kv.shape[3]] = kv.to(device=self.device, dtype=self.dtype)

    def read_row(self, row: int, length: int) -> torch.Tensor:
        """A compact copy of the first ``length`` columns of ``row`` (``[layers, 2, heads, length, dim]``)."""
        return self.buf[:, :, row, :, :length].clone()

    def move_row(self, src: int, dst: int, length: int) -> None:
        """Move the first ``length`` columns of row ``src`` into row ``dst``."""
        self.buf[:, :, dst, :, :length] = self.buf[:, :, src, :, :length]

    def prefill_cache(self, row: int, start: int, q: int) -> _SlotWriter:
        """Cache for a forward of ``q`` new tokens of ``row`` whose first ``start`` columns are filled."""
        return _SlotWriter(self, slice(row, row + 1), None, start, start + q)

    def decode_cache(self, positions: torch.Tensor, width: int) -> _SlotWriter:
        """Cache for a one-token forward of rows ``0..len(positions)-1`` writing at ``positions``."""
        return _SlotWriter(self, slice(0, positions.shape[0]), positions, 0, width)


def prefill_mask(start: int, q: int, dtype: torch.dtype | None, device: torch.device) -> torch.Tensor:
    """4D mask ``[1, 1, q, start+q]``: new token ``i`` sees columns ``0..start+i`` (bool, or additive if
    ``dtype`` is given, for eager attention)."""
    cols = torch.arange(start + q, device=device)
    allowed = cols[None, :] <= (start + torch.arange(q, device=device))[:, None]
    return _as_mask(allowed[None, None], dtype)


def decode_mask(positions: torch.Tensor, width: int, dtype: torch.dtype | None) -> torch.Tensor:
    """4D mask ``[n, 1, 1, width]``: row ``i`` sees columns ``0..positions[i]`` (its own new token included)."""
    allowed = torch.arange(width, device=positions.device)[None, :] <= positions[:, None]
    return _as_mask(allowed[:, None, None, :], dtype)


def _as_mask(allowed: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    if dtype is None:
        return allowed
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(
        ~allowed, torch.finfo(dtype).min)


class SessionCache:
    """LRU of finished requests' KV by session id, bounded by entry count and bytes (thread-safe).

    An entry is ``(ids, kv)`` with ``kv`` of shape ``[layers, 2, heads, len(ids), dim]``: the keys/values
    of exactly ``ids``. A request takes its session's entry out while it runs and puts it back when it ends.
    """

    def __init__(self, max_sessions: int, max_bytes: int):
        self.max_sessions, self.max_bytes = max_sessions, max_bytes
        self._entries: OrderedDict[str, tuple[list[int], torch.Tensor]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.evictions = 0

    @staticmethod
    def _size(kv: torch.Tensor) -> int:
        return kv.numel() * kv.element_size()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def take(self, session_id: str) -> tuple[list[int], torch.Tensor] | None:
        """Remove and return the entry of ``session_id`` (None when absent)."""
        with self._lock:
            entry = self._entries.pop(session_id, None)
            if entry is not None:
                self._bytes -= self._size(entry[1])
            return entry

    def put(self, session_id: str, ids: list[int], kv: torch.Tensor) -> None:
        """Store an entry (most recent), evicting least-recently-used ones to stay within the bounds."""
        size = self._size(kv)
        with self._lock:
            old = self._entries.pop(session_id, None)
            if old is not None:
                self._bytes -= self._size(old[1])
            if size > self.max_bytes or self.max_sessions <= 0:
                return
            while self._entries and (len(self._entries) >= self.max_sessions or self._bytes + size > self.max_bytes):
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= self._size(evicted)
                self.evictions += 1
            self._entries[session_id] = (ids, kv)
            self._bytes += size

    def drop(self, session_id: str) -> None:
        self.take(session_id)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


def common_prefix(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
