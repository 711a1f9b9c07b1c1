"""Local generation with transformers: the model's own chat template, greedy by default, batched.

Prompts are sorted by length before batching so that a batch pads little, then answers are returned
in input order. Left padding keeps every prompt's last token at the same position for generation.
Answers stream: with ``on_text``, every row of a batch is decoded after each step (transformers'
streamer interface, for the whole batch) and its settled words reported.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tailor.allocator import keep_freed_memory
from tailor.errors import ModelError
from tailor.models.base import Generation, GenerationSettings, OnText, Prompt, settled
from tailor.models.precision import name_of, resolve, torch_dtype


def _offline() -> None:
    keep_freed_memory()  # generation re-allocates its cache every step: see tailor/allocator.py
    # Nothing may come from a model hub at run time; fail instead of downloading.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class TransformersGenerator:
    """A causal LM loaded from a Hugging Face model directory."""

    streams = True

    def __init__(self, model: Any, tokenizer: Any, name: str):
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self._window = _context_window(model.config, tokenizer)

    @classmethod
    def load(cls, model_dir: Path, name: str | None = None, dtype: str = "auto") -> TransformersGenerator:
        """Load weights and tokenizer from ``model_dir``, on the GPU when there is one, in ``dtype``
        (``auto``, ``float32``, ``bfloat16``: see :mod:`tailor.models.precision`).

        Raises:
            ModelError: not a model directory, or transformers cannot load it.
        """
        _offline()
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise ModelError(f"{model_dir}: not a Hugging Face model directory (no config.json)")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # tailor reports its own progress
        cuda = torch.cuda.is_available()
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
            model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch_dtype(resolve(dtype, cuda)))
        except (OSError, ValueError, KeyError) as e:
            raise ModelError(f"{model_dir}: cannot load model ({e})") from None
        model.to("cuda" if cuda else "cpu").eval()
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return cls(model, tokenizer, name or model_dir.name)

    @property
    def dtype(self) -> str:
        """The precision the weights are held in: ``float32`` or ``bfloat16``."""
        return name_of(self.model.dtype)

    @property
    def context_window(self) -> int:
        return self._window

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def render(self, prompt: Prompt) -> str:
        """The exact text the model sees for ``prompt`` (chat template applied)."""
        if isinstance(prompt, str):
            return prompt
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(list(prompt), add_generation_prompt=True, tokenize=False)
        # Base models without a template: a plain transcript that ends where the answer begins.
        lines = [f"{m['role'].capitalize()}: {m['content']}" for m in prompt]
        return "\n".join([*lines, "Assistant:"])

    def generate(
        self,
        prompts: Sequence[Prompt],
        settings: GenerationSettings,
        progress: Callable[[int], None] | None = None,
        on_text: OnText | None = None,
    ) -> list[Generation]:
        texts = [self.render(p) for p in prompts]
        ids = [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        for i, seq in enumerate(ids):
            if len(seq) + settings.max_new_tokens > self._window:
                raise ModelError(
                    f"prompt {i} has {len(seq)} tokens; with max_new_tokens={settings.max_new_tokens} it exceeds "
                    f"{self.name}'s context window of {self._window}; shorten the prompt or lower "
                    "generation.max_new_tokens"
                )
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        results: list[Generation | None] = [None] * len(ids)
        for start in range(0, len(order), settings.batch_size):
            batch = order[start : start + settings.batch_size]
            streamer = _Rows(self.tokenizer, _stop_ids(self.tokenizer, self.model), batch, on_text) if on_text else None
            generated = self._generate_batch([ids[i] for i in batch], settings, streamer)
            for i, gen in zip(batch, generated, strict=True):
                results[i] = gen
            if progress is not None:
                progress(len(batch))
        return [r for r in results if r is not None]

    def _generate_batch(
        self, batch: list[list[int]], settings: GenerationSettings, streamer: _Rows | None = None
    ) -> list[Generation]:
        import torch

        from tailor.models.reserved_cache import reserved_cache

        pad = self.tokenizer.pad_token_id
        width = max(len(s) for s in batch)
        # (b, width) left-padded input ids and their attention mask
        input_ids = torch.tensor([[pad] * (width - len(s)) + s for s in batch], device=self.model.device)
        attention = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in batch], device=self.model.device)
        sample = settings.temperature > 0
        start = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                max_new_tokens=settings.max_new_tokens,
                do_sample=sample,
                temperature=settings.temperature if sample else None,
                top_p=None,
                top_k=None,
                pad_token_id=pad,
                # the batch's whole length at once, instead of a copy of the cache every step
                cache=reserved_cache(width + settings.max_new_tokens),
                streamer=streamer,
            )
        latency = time.perf_counter() - start
        stops = _stop_ids(self.tokenizer, self.model)
        gens = []
        for seq, row in zip(batch, out[:, width:].tolist(), strict=True):
            n = next((k for k, t in enumerate(row) if t in stops), len(row))
            text = self.tokenizer.decode(row[:n], skip_special_tokens=True).strip()
            gens.append(Generation(text=text, prompt_tokens=len(seq), completion_tokens=n, latency_s=latency))
        return gens


class _Rows:
    """A streamer (transformers' ``put``/``end``) for a whole batch: after each step, every row's answer
    so far is decoded and its settled words reported as ``on_text(index, text)``, ``index`` being the
    row's prompt in the generate call. A row ends at its first stop token, as the finished text does."""

    def __init__(self, tokenizer: Any, stops: set[int], indices: list[int], on_text: OnText):
        self.tokenizer, self.stops, self.indices, self.on_text = tokenizer, stops, indices, on_text
        self.rows: list[list[int]] = [[] for _ in indices]
        self.ended = [False] * len(indices)
        self.reported = [""] * len(indices)
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # the first call hands over the prompts
            self.prompt_seen = True
            return
        for row, token in enumerate(value.reshape(-1).tolist()):
            if self.ended[row]:
                continue
            if token in self.stops:
                self.ended[row] = True
                continue
            self.rows[row].append(token)
            text = settled(self.tokenizer.decode(self.rows[row], skip_special_tokens=True))
            if text != self.reported[row]:
                self.reported[row] = text
                self.on_text(self.indices[row], text)

    def end(self) -> None:
        pass


def _stop_ids(tokenizer: Any, model: Any) -> set[int]:
    eos = model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    ids |= {t for t in (tokenizer.eos_token_id, tokenizer.pad_token_id) if t is not None}
    return ids


def _context_window(config: Any, tokenizer: Any) -> int:
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 1_000_000 else 2048
