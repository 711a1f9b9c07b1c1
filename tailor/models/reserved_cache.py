"""A key/value cache that reserves its whole length up front instead of growing by concatenation.

transformers' default cache (``DynamicLayer``) appends each decoding step's keys and values with
``torch.cat``: every step copies the whole cache into a fresh tensor. On CPU that copy was 29-54% of
a decoding step in the demo's profile (batch 8, ~300 prompt tokens). A batch's final length is known
before it starts (prompt width + ``max_new_tokens``), so this cache allocates that once and writes
each step into place. Attention sees the same keys and values, in the same order and length, as a
view of the buffer: answers are token-for-token those of the default cache (tests/models/test_local.py).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer


class ReservedLayer(DynamicLayer):
    """One layer's keys and values in a buffer of ``capacity`` positions, grown (doubled) only if exceeded."""

    def __init__(self, capacity: int):
        super().__init__()
        self._capacity = capacity  # the reservation; a buffer outgrowing it doubles
        self._k: torch.Tensor | None = None  # (batch, heads, capacity, head_dim) buffers
        self._v: torch.Tensor | None = None
        self._keys_view: torch.Tensor | None = None
        self._length = 0  # positions of the buffers in use; ``keys``/``values`` are views of them

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        if self._k is None or self.keys is not self._keys_view:
            # First call, or the cache was cropped or reselected outside update: start from what it holds.
            self._length = self.keys.shape[-2] if self.keys.dim() == 4 else 0
            size = max(self._capacity, self._length)
            self._k, self._v = self._alloc(self.keys, key_states, size), self._alloc(self.values, value_states, size)
        end = self._length + key_states.shape[-2]
        if end > self._k.shape[-2]:
            size = max(end, 2 * self._k.shape[-2])
            self._k, self._v = self._alloc(self._k, key_states, size), self._alloc(self._v, value_states, size)
        self._k[:, :, self._length : end] = key_states
        self._v[:, :, self._length : end] = value_states
        self._length = end
        self.keys = self._keys_view = self._k[:, :, :end]
        self.values = self._v[:, :, :end]
        return self.keys, self.values

    def _alloc(self, held: torch.Tensor, like: torch.Tensor, size: int) -> torch.Tensor:
        """A buffer of ``size`` positions shaped like ``like``, holding ``held``'s first ``_length`` positions."""
        batch, heads, _, dim = like.shape
        buf = like.new_empty((batch, heads, size, dim))
        if self._length:
            buf[:, :, : self._length] = held[:, :, : self._length]
        return buf

    def reset(self) -> None:
        self._k = self._v = self._keys_view = None
        self._length = 0
        super().reset()


def reserved_cache(capacity: int) -> DynamicCache:
    """A cache for ``model.generate(cache=...)`` whose layers hold ``capacity`` positions each."""
    cache = DynamicCache()
    cache.layer_class_to_replicate = lambda: ReservedLayer(capacity)
    return cache
