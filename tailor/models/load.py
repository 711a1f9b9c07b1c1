"""Recipe ``model:`` section → a ready :class:`~tailor.models.base.Generator`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tailor.config import Recipe
from tailor.errors import ModelError
from tailor.models.base import Generator
from tailor.models.settings import GGUFModel, HFModel, ModelConfig, OpenAIModel, PackagedModel


def load_generator(recipe: Recipe, log: Callable[[str], None] = lambda _: None) -> Generator:
    """The generator the recipe names; local models are loaded into memory now.

    Raises:
        ModelError: the model is missing, unreadable, or its endpoint misconfigured; located in the recipe.
    """
    return load_model_at(recipe, recipe.model, ("model",), log)


def load_model_at(
    recipe: Recipe, model: ModelConfig, at: tuple[str, ...], log: Callable[[str], None] = lambda _: None
) -> Generator:
    """The generator of ``model``, a model the recipe names at field ``at`` (``model``, ``synth.model``,
    ``eval.judge``).

    Raises:
        ModelError: as :func:`load_generator`, located at ``at``.
    """
    try:
        return _load(recipe.model_copy(update={"model": model}), log)
    except ModelError as e:
        # The field a load failure is about, where the error does not say: the key for endpoints, the
        # name or path otherwise.
        field = {"openai": "api_key_env", "packaged": "name"}.get(model.kind, "path")
        raise ModelError(*(recipe.problem(p.message, *at, p.field or field) for p in e.problems)) from None


def _load(recipe: Recipe, log: Callable[[str], None]) -> Generator:
    model = recipe.model
    if isinstance(model, OpenAIModel):
        from tailor.models.openai_http import OpenAIGenerator

        return OpenAIGenerator.from_env(
            model.base_url,
            model.model,
            model.api_key_env,
            context_window=model.context_window,
            concurrency=model.concurrency,
            timeout_s=model.timeout_s,
            max_tries=model.max_tries,
            max_wait_s=model.max_wait_s,
            backoff_s=model.backoff_s,
            tokenizer_dir=_endpoint_tokenizer(recipe, model, log),
        )
    from tailor.models.gguf import converted_dir, packaged_gguf
    from tailor.models.local import TransformersGenerator

    if isinstance(model, PackagedModel | GGUFModel) and model.backend == "llamacpp":
        from tailor.models.llamacpp import LlamaCppGenerator

        path = packaged_gguf(model.name, log) if isinstance(model, PackagedModel) else recipe.resolve(model.path)
        return LlamaCppGenerator(path, name=getattr(model, "name", None))
    if isinstance(model, PackagedModel):
        return TransformersGenerator.load(converted_dir(packaged_gguf(model.name, log), log), model.name, model.dtype)
    if isinstance(model, GGUFModel):
        return TransformersGenerator.load(converted_dir(recipe.resolve(model.path), log), dtype=model.dtype)
    assert isinstance(model, HFModel)  # the union is closed; pydantic rejected anything else
    from tailor.models.hub import model_directory

    return TransformersGenerator.load(model_directory(recipe, model.path), dtype=model.dtype)


def _endpoint_tokenizer(recipe: Recipe, model: OpenAIModel, log: Callable[[str], None]) -> Path | None:
    """The directory of the tokenizer an endpoint's tokens are counted with: the recipe's ``tokenizer``, or the
    packaged model's when the endpoint serves it (``HuggingFaceTB/SmolLM2-135M-Instruct`` under vLLM); None:
    estimated. A packaged model not installed here is no error: its tokens are estimated."""
    if model.tokenizer:
        return recipe.resolve(model.tokenizer)
    from tailor.models.gguf import converted_dir, packaged_gguf
    from tailor.models.packaged import catalog

    name = model.model.rsplit("/", 1)[-1].lower()
    if name not in catalog():
        return None
    try:
        return converted_dir(packaged_gguf(name), log)
    except ModelError:
        return None
