"""Export a model (the base, or a merged fine-tuned one) to a GGUF file, as llama.cpp runs it.

The exported file takes its metadata (architecture, hyper-parameters, tokenizer, chat template) from
a template GGUF of the same architecture — for the default model, the packaged SmolLM2 file the
model was loaded from — and its tensors from the model's current weights, quantized with the
``gguf`` package: ``q8_0`` (8-bit blocks of 32) and ``f16`` in pure numpy. ``q4_k_m`` needs
llama.cpp's quantizer: it is made from an f16 export through llama-cpp-python's
``llama_model_quantize`` when that package is installed (see :func:`quantize_with_llama_cpp`).
k-quants work on rows of 256: where a model's width is not a multiple of 256 (SmolLM2-135M: 576)
llama.cpp falls back to q5_0 / q8_0 for those tensors, and says so on stderr.

Transformers un-permutes the query and key projections of llama-family GGUF files when it loads
them; the export permutes them back, so llama.cpp's rotary embedding reads them as it expects.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Literal

import numpy as np

from tailor.errors import ModelError

GGUFType = Literal["q8_0", "f16", "q4_k_m"]
GGUF_TYPES: tuple[str, ...] = ("q8_0", "f16", "q4_k_m")
SUPPORTED_ARCHS = ("llama",)


def export_gguf(model, template: Path, out: Path, qtype: GGUFType = "q8_0") -> Path:
    """Write ``model``'s weights to ``out`` in ``qtype``, metadata from ``template``; returns ``out``.

    Written to a temporary file in the same directory, then renamed.

    Raises:
        ModelError: the template's architecture is not supported, or a tensor has no counterpart.
    """
    import gguf

    if qtype == "q4_k_m":  # from an exact f16 export, so nothing is quantized twice
        f16 = export_gguf(model, template, Path(out).with_suffix(".f16.tmp.gguf"), "f16")
        try:
            return quantize_with_llama_cpp(f16, Path(out), "q4_k_m")
        finally:
            f16.unlink(missing_ok=True)
    reader = gguf.GGUFReader(template)
    arch = reader.fields["general.architecture"].contents()
    if arch not in SUPPORTED_ARCHS:
        raise ModelError(f"{template}: GGUF export supports {', '.join(SUPPORTED_ARCHS)} models, not {arch}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:12]}.tmp")
    writer = gguf.GGUFWriter(tmp, arch)
    try:
        _copy_metadata(reader, writer, qtype)
        _add_tensors(reader, writer, _weights(model, reader, arch), arch, template, qtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return out


def _weights(model, reader, arch: str) -> dict[str, tuple[str, np.ndarray]]:
    """The model's tensors by their GGUF name: GGUF name → (Hugging Face name, float32 array)."""
    import gguf

    names = gguf.TensorNameMap(gguf.MODEL_ARCH.LLAMA, int(reader.fields[f"{arch}.block_count"].contents()))
    weights = {}
    for hf_name, tensor in _merged(model).state_dict().items():
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is not None:
            weights[name] = (hf_name, tensor.detach().float().cpu().numpy())
    return weights


def _copy_metadata(reader, writer, qtype: GGUFType) -> None:
    """The template's key-values (tokenizer, hyperparameters), with the file type of ``qtype``."""
    import gguf

    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name in ("general.architecture", "general.file_type"):
            continue
        sub = field.types[1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), field.types[0], sub)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0 if qtype == "q8_0" else gguf.LlamaFileType.MOSTLY_F16)


def _add_tensors(reader, writer, weights: dict, arch: str, template: Path, qtype: GGUFType) -> None:
    """Every tensor of the template, from the model's weights, in the template's order: attention query and
    key rows permuted as llama.cpp expects, norms in float32, the rest in ``qtype``."""
    import gguf

    n_head = int(reader.fields[f"{arch}.attention.head_count"].contents())
    n_head_kv = int(reader.fields[f"{arch}.attention.head_count_kv"].contents())
    target = gguf.GGMLQuantizationType.Q8_0 if qtype == "q8_0" else gguf.GGMLQuantizationType.F16
    for t in reader.tensors:
        if t.name not in weights:
            raise ModelError(f"{template}: tensor {t.name} has no counterpart in the model")
        hf_name, data = weights[t.name]
        if hf_name.endswith("q_proj.weight"):
            data = _permute(data, n_head, n_head)
        elif hf_name.endswith("k_proj.weight"):
            data = _permute(data, n_head, n_head_kv)
        if data.ndim == 1:  # norms stay in float32, as llama.cpp expects
            writer.add_tensor(t.name, data.astype(np.float32))
        elif target == gguf.GGMLQuantizationType.F16:
            writer.add_tensor(t.name, data.astype(np.float16))
        else:
            writer.add_tensor(t.name, gguf.quants.quantize(data, target), raw_dtype=target)


def _merged(model):
    """A LoRA model's weights merged into its base (a copy); any other model as it is."""
    if hasattr(model, "merge_and_unload"):
        import copy

        return copy.deepcopy(model).merge_and_unload()
    return model


def _permute(weights: np.ndarray, n_head: int, n_head_kv: int) -> np.ndarray:
    """llama.cpp's order of the rotary halves in a q or k projection (the inverse of transformers' load)."""
    heads = n_head_kv if n_head_kv != n_head else n_head
    shape = weights.shape
    return weights.reshape(heads, 2, shape[0] // heads // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


def quantize_with_llama_cpp(source: Path, out: Path, qtype: Literal["q4_k_m"]) -> Path:
    """Requantize a GGUF file with llama.cpp's own quantizer (k-quants need it).

    Raises:
        ModelError: llama-cpp-python is not installed, or quantization failed.
    """
    try:
        import llama_cpp
    except ImportError:
        raise ModelError(
            f"{qtype} needs llama.cpp's quantizer: pip install 'llm-tailor[llamacpp]' "
            "(builds llama.cpp from source, about 8 minutes on 2 cores)"
        ) from None
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:12]}.tmp")
    code = llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), params)
    if code != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise ModelError(f"llama.cpp could not quantize {source} to {qtype} (code {code})")
    os.replace(tmp, out)
    return out
