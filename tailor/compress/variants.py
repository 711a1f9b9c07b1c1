"""Compressed variants of a local model, and how fast each one answers.

Variants (``VARIANTS``):

- ``fp32``, ``bf16``: weights and activations in float32 or bfloat16. The one the model was loaded in
  (``model.dtype``) is the model itself, the reference every other variant is compared with;
- ``int8``: dynamic int8 quantization of every ``nn.Linear`` but the output head (torch.ao: int8
  weights with a scale per output channel, activations quantized per batch at run time; CPU).
  Embeddings and head stay in float;
- ``q8_0``, ``q4_k_m``: the model exported to a GGUF file (:mod:`tailor.compress.gguf_export`) and
  run by llama.cpp (:class:`tailor.models.llamacpp.LlamaCppGenerator`; needs the ``llamacpp`` extra).

A torch variant is written as ``DIR/model.pt`` (its state dict) and ``DIR/variant.json`` (what it is,
from which base, its size on disk), both atomically; :func:`load_variant` rebuilds it on the same
base model. A GGUF variant is one ``.gguf`` file.
"""

from __future__ import annotations

import copy
import json
import os
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from tailor.artifacts import write_json_atomic
from tailor.errors import ArtifactError, ModelError
from tailor.eval.metrics import percentile
from tailor.models.base import GenerationSettings, Prompt
from tailor.models.local import TransformersGenerator

if TYPE_CHECKING:
    from tailor.workspace import Workspace

Variant = Literal["fp32", "bf16", "int8", "q8_0", "q4_k_m"]
VARIANTS: tuple[str, ...] = get_args(Variant)
GGUF_VARIANTS = ("q8_0", "q4_k_m")  # exported to GGUF and run by llama.cpp


def precision(generator: TransformersGenerator) -> str:
    """The variant name of the precision ``generator`` runs in as loaded: ``fp32`` or ``bf16``."""
    return "bf16" if getattr(generator, "dtype", "float32") == "bfloat16" else "fp32"


def compress(generator: TransformersGenerator, variant: str) -> TransformersGenerator:
    """A new generator whose model is ``generator``'s in a torch ``variant`` (fp32, bf16, int8); ``generator``
    is not changed. GGUF variants: :func:`compress_gguf`.

    Raises:
        ModelError: an unknown variant, or one this device cannot run (int8 is CPU only).
    """
    import torch

    model = getattr(generator, "model", None)
    if model is None or not hasattr(model, "parameters"):
        raise ModelError(f"{generator.name}: compression needs local weights (an endpoint has none)")
    if variant in GGUF_VARIANTS:
        raise ModelError(f"{variant} is a GGUF variant, run by llama.cpp: use compress_gguf")
    if variant not in VARIANTS:
        raise ModelError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    if variant == precision(generator):
        return generator
    out = copy.deepcopy(model)
    if hasattr(out, "merge_and_unload"):  # a LoRA adapter: compress the merged model, as it would ship
        out = out.merge_and_unload()
    if variant in ("bf16", "fp32"):
        out = out.to(torch.bfloat16 if variant == "bf16" else torch.float32)
    else:
        if next(model.parameters()).device.type != "cpu":
            raise ModelError("int8 dynamic quantization runs on the CPU; use bf16 on a GPU")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao announces its future move to torchao
            # Every Linear but the output head: the head is tied to the embedding (49152 x 576 here),
            # and one int8 scale over the whole vocabulary turns answers into another language.
            layers = {
                name: torch.ao.quantization.per_channel_dynamic_qconfig
                for name, module in out.named_modules()
                if isinstance(module, torch.nn.Linear) and module is not out.get_output_embeddings()
            }
            out = torch.ao.quantization.quantize_dynamic(out.float(), layers, torch.qint8)
    return TransformersGenerator(out.eval(), generator.tokenizer, f"{generator.name}@{variant}")


def save_variant(generator: TransformersGenerator, variant: str, out_dir: Path, base: str) -> Path:
    """Write ``generator`` (already in ``variant`` form) to ``out_dir``; returns the directory.

    The state dict is written to a temporary name and renamed, then ``variant.json``: a reader sees
    either the old variant or the whole new one.
    """
    import torch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / "model.pt"
    tmp = out_dir / f".model.pt.{uuid.uuid4().hex[:12]}.tmp"
    try:
        torch.save(generator.model.state_dict(), tmp)
        os.replace(tmp, weights)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    write_json_atomic(out_dir / "variant.json", {"variant": variant, "base": base, "bytes": weights.stat().st_size})
    return out_dir


def load_variant(base: TransformersGenerator, out_dir: Path) -> TransformersGenerator:
    """Rebuild a saved variant on ``base`` (the model it was made from).

    Raises:
        ArtifactError: the directory holds no variant, or its weights do not fit ``base``.
    """
    import torch

    out_dir = Path(out_dir)
    try:
        meta = json.loads((out_dir / "variant.json").read_text(encoding="utf-8"))
        state = torch.load(out_dir / "model.pt", weights_only=False)
    except (OSError, json.JSONDecodeError) as e:
        raise ArtifactError(f"{out_dir}: not a compressed variant ({e})") from None
    skeleton = compress(base, meta["variant"])
    if skeleton is base:
        skeleton = TransformersGenerator(copy.deepcopy(base.model), base.tokenizer, f"{base.name}@{precision(base)}")
    try:
        skeleton.model.load_state_dict(state)
    except RuntimeError as e:
        raise ArtifactError(f"{out_dir}: weights do not fit {base.name} ({str(e).splitlines()[0]})") from None
    return skeleton


def compress_gguf(generator: TransformersGenerator, variant: str, template: Path | None, out: Path):
    """``generator``'s model (merged, if a LoRA) exported to GGUF ``variant`` at ``out``, run by llama.cpp.

    Raises:
        ModelError: no template GGUF (the model did not come from one), or llama-cpp-python is missing.
    """
    from tailor.compress.gguf_export import export_gguf
    from tailor.models.llamacpp import LlamaCppGenerator

    if template is None:
        raise ModelError(f"{variant} export takes its metadata from a GGUF file: use model kind packaged or gguf")
    path = out if out.is_file() else export_gguf(generator.model, template, out, variant)
    return LlamaCppGenerator(
        path, context_window=generator.context_window, name=f"{generator.name}@{variant}", render=generator.render
    )


def gguf_template(ws: Workspace) -> Path | None:
    """The GGUF file the workspace's model was loaded from (packaged or gguf recipes); None otherwise."""
    from tailor.models.gguf import packaged_gguf
    from tailor.models.settings import GGUFModel, PackagedModel

    model = ws.recipe.model
    if isinstance(model, PackagedModel):
        return packaged_gguf(model.name)
    if isinstance(model, GGUFModel):
        return ws.recipe.resolve(model.path)
    return None


def size_bytes(generator) -> int:
    """Bytes the model takes on disk: its GGUF file, or its state dict when saved."""
    import io

    import torch

    if hasattr(generator, "path"):
        return Path(generator.path).stat().st_size
    buffer = io.BytesIO()
    torch.save(generator.model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


@dataclass(frozen=True)
class Speed:
    """How fast a generator answers ``prompts`` one at a time (batch 1: what one user waits)."""

    prefill_tokens_per_s: float  # prompt tokens per second of the first forward pass
    decode_tokens_per_s: float  # generated tokens per second after the first
    latency_p50_s: float
    latency_p95_s: float
    completion_tokens: int

    def to_json(self) -> dict[str, float]:
        return asdict(self)


def speed(generator: TransformersGenerator, prompts: Sequence[Prompt], max_new_tokens: int) -> Speed:
    """Time each prompt twice, unbatched and greedy: 1 new token (prefill) and ``max_new_tokens`` (whole answer).

    Decode speed is (tokens − 1) / (whole − prefill time), so the prompt's cost is not counted twice.
    """
    one = GenerationSettings(max_new_tokens=1, temperature=0.0, batch_size=1)
    full = GenerationSettings(max_new_tokens=max_new_tokens, temperature=0.0, batch_size=1)
    generator.generate([prompts[0]], one)  # warm-up: first-call allocations are not the model's speed
    prefill_tokens = prefill_s = decode_tokens = decode_s = 0.0
    latencies, generated = [], 0
    for prompt in prompts:
        start = time.perf_counter()
        first = generator.generate([prompt], one)[0]
        t_prefill = time.perf_counter() - start
        start = time.perf_counter()
        answer = generator.generate([prompt], full)[0]
        t_full = time.perf_counter() - start
        latencies.append(t_full)
        prefill_tokens += first.prompt_tokens
        prefill_s += t_prefill
        generated += answer.completion_tokens
        if answer.completion_tokens > 1:
            decode_tokens += answer.completion_tokens - 1
            decode_s += max(t_full - t_prefill, 1e-9)
    return Speed(
        prefill_tokens_per_s=round(prefill_tokens / prefill_s, 2),
        decode_tokens_per_s=round(decode_tokens / decode_s, 2) if decode_s else 0.0,
        latency_p50_s=round(percentile(latencies, 50), 4),
        latency_p95_s=round(percentile(latencies, 95), 4),
        completion_tokens=generated,
    )


@dataclass(frozen=True)
class Compressed:
    directory: Path
    variant: str
    source: str  # base, or the strategy whose trained model it is
    loaded: str  # the precision the model was compressed from: fp32 | bf16 (model.dtype)
    loaded_mb: float
    mb: float


def compress_model(ws: Workspace, variant: str, source: str = "base") -> Compressed:
    """Compress the workspace's base model (``source`` base) or the model a strategy that trains its own
    weights trained (``source`` its name, trained first if missing or stale; a LoRA merged): torch variants
    to ``OUT/compressed/SOURCE-VARIANT/``, GGUF ones to ``OUT/compressed/SOURCE-VARIANT.gguf``.

    Raises:
        ModelError: an unknown variant or source, a model without local weights, or a GGUF variant
            without llama.cpp.
    """
    generator = ws.generator if source == "base" else trained_generator(ws, source)
    target = ws.recipe.out_dir / "compressed" / f"{source}-{variant}"
    if variant in GGUF_VARIANTS:
        target = target.with_suffix(".gguf")
        template = gguf_template(ws)
        if template is None:
            raise ModelError(f"{variant} export takes its metadata from a GGUF file: use model kind packaged or gguf")
        from tailor.compress.gguf_export import export_gguf

        export_gguf(generator.model, template, target, variant)  # rebuilt from the current weights
        mb = round(target.stat().st_size / 2**20, 1)
    else:
        out = save_variant(compress(generator, variant), variant, target, base=generator.name)
        target, mb = out, round((out / "model.pt").stat().st_size / 2**20, 1)
    return Compressed(target, variant, source, precision(generator), round(size_bytes(generator) / 2**20, 1), mb)


def trained_generator(ws: Workspace, strategy: str) -> TransformersGenerator:
    """A generator over the model ``strategy`` trains (trained first if missing or stale), named
    ``MODEL+STRATEGY``.

    Raises:
        ModelError: ``strategy`` trains no weights of its own.
    """
    from tailor import plugins
    from tailor.finetune.model import load_tuned_model
    from tailor.finetune.train import base_model_dir

    trainers = plugins.trainers()
    if strategy not in trainers:
        raise ModelError(f"{strategy!r} trains no model of its own; choose base or one of {', '.join(trainers)}")
    trained = trainers[strategy].train(ws)
    name = f"{ws.generator.name}+{strategy}"
    return load_tuned_model(trained.model_dir, base_model_dir(ws), ws.generator.tokenizer, name, ws.generator.dtype)
