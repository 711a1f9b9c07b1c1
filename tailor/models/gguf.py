"""GGUF files (the packaged default among them) converted once to a cached safetensors model directory.

Loading a GGUF file through transformers dequantizes every tensor (~30 s for SmolLM2-135M); loading
the converted directory takes under a second. The cache key is the file's content hash, so a changed
file is converted again and an unchanged one never is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from tailor.errors import ModelError
from tailor.models.packaged import cache_root


def packaged_gguf(name: str, log: Callable[[str], None] = lambda _: None) -> Path:
    """Path of a packaged model's GGUF file (see :mod:`tailor.models.packaged`).

    Raises:
        ModelError: the model is unknown, not installed, or its parts do not assemble to the pinned file.
    """
    from tailor.models.packaged import catalog, gguf_file

    known = catalog()
    if name not in known:
        raise ModelError(f"unknown packaged model {name!r}; choose from {', '.join(known)}")
    return gguf_file(known[name], log)


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def converted_dir(gguf_path: Path, log: Callable[[str], None] = lambda _: None) -> Path:
    """The cached model directory for ``gguf_path``, converting it on first use.

    Raises:
        ModelError: the file is missing or transformers cannot read it.
    """
    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise ModelError(f"GGUF file not found: {gguf_path}")
    target = cache_root() / "models" / f"{gguf_path.stem}-{_file_digest(gguf_path)}"
    if (target / "config.json").is_file():
        return target
    log(f"converting {gguf_path.name} to a cached model directory (once, ~30 s): {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _convert(gguf_path, tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "config.json").is_file():  # not a concurrent conversion that won the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert(gguf_path: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # tailor reports its own progress
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32
        )
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        raise ModelError(f"{gguf_path}: transformers cannot load this GGUF file ({e})") from None
    # The loaded weights are dequantized floats, but the object still says "quantized with gguf",
    # which makes save_pretrained refuse; the quantization record is stale, so drop it.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
