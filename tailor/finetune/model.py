"""The trained model as a generator, and as a plain Hugging Face model directory for other tools."""

from __future__ import annotations

import shutil
from pathlib import Path

from tailor.artifacts import replace_dir
from tailor.errors import ArtifactError, ModelError
from tailor.models.local import TransformersGenerator
from tailor.models.precision import resolve, torch_dtype


def _merged(model_dir: Path, base: Path, dtype: str):
    """The base model with the adapter in ``model_dir`` merged into its weights (or the full model), in
    ``dtype`` (``float32``, ``bfloat16``). The merge itself is done in float32, so a model merged here
    and saved, then loaded in bf16, holds the same weights as one merged here in bf16."""
    import torch
    from transformers import AutoModelForCausalLM

    if not (model_dir / "adapter_config.json").is_file():
        return AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).to(torch_dtype(dtype))
    try:
        from peft import PeftModel
    except ImportError:
        raise ModelError("loading a LoRA adapter needs peft: pip install 'llm-tailor[finetune]'") from None

    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    # merge_and_unload folds B·A into the base weights once: generation then costs what the base costs.
    return PeftModel.from_pretrained(model, str(model_dir)).merge_and_unload().to(torch_dtype(dtype))


def load_tuned_model(
    model_dir: Path, base: Path, tokenizer, name: str = "finetune", dtype: str = "auto"
) -> TransformersGenerator:
    """A generator over the trained model in ``dtype`` (``auto``, ``float32``, ``bfloat16``; the base
    generator's, as a rule), sharing the base generator's tokenizer.

    Raises:
        ArtifactError: ``model_dir`` holds neither an adapter nor a model.
    """
    model_dir = Path(model_dir)
    if not (model_dir / "adapter_config.json").is_file() and not (model_dir / "config.json").is_file():
        raise ArtifactError(f"{model_dir}: no adapter or model here; run `tailor tune train`")
    import torch

    cuda = torch.cuda.is_available()
    model = _merged(model_dir, base, resolve(dtype, cuda)).to("cuda" if cuda else "cpu").eval()
    return TransformersGenerator(model, tokenizer, name)


def export_merged(model_dir: Path, base: Path, tokenizer, target: Path) -> Path:
    """Write the merged model (float32) and tokenizer to ``target``: loadable by any transformers-based tool."""
    target = Path(target)
    staging = target.with_name(target.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    _merged(Path(model_dir), base, "float32").save_pretrained(str(staging))
    tokenizer.save_pretrained(str(staging))
    return replace_dir(staging, target)
