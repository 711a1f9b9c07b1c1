"""Everything a recipe's steps share, loaded once and passed explicitly: no global state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from tailor import plugins
from tailor.config import Recipe
from tailor.data.corpus import Document, load_corpus
from tailor.data.examples import TaskDataset, load_datasets
from tailor.errors import DataError, RecipeError
from tailor.models.base import GenerationSettings, Generator
from tailor.models.settings import TRANSPORT, OpenAIModel, PackagedModel
from tailor.progress import Reporter, SilentReporter

T = TypeVar("T")


@dataclass(frozen=True)
class Shared(Generic[T]):
    """The key of one thing a workspace builds once and shares (the rag index, the tuned model).

    Declared once, next to the code that builds it, so every user of the thing reads it through the
    same typed key instead of repeating a string.
    """

    name: str

    def of(self, *parts: object) -> Shared[T]:
        """A key per ``parts`` (one compressed copy per model and variant)."""
        return Shared("/".join([self.name, *map(str, parts)]))


@dataclass(frozen=True)
class Workspace:
    recipe: Recipe
    datasets: tuple[TaskDataset, ...]
    corpus: tuple[Document, ...]
    generator: Generator
    reporter: Reporter = field(default_factory=SilentReporter)
    # Builds that several datasets share (the rag index), made once per workspace.
    _shared: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def shared(self, key: Shared[T], build: Callable[[], T]) -> T:
        """``build()``'s result, computed on first use and kept for this workspace."""
        if key.name not in self._shared:
            self._shared[key.name] = build()
        return self._shared[key.name]

    def derive(self, **changes: Any) -> Workspace:
        """A workspace with ``changes`` (recipe, corpus, datasets) and nothing shared yet: what it
        builds (its index, its tuned model) follows its own recipe and documents, not this one's."""
        return replace(self, **changes, _shared={})

    @property
    def settings(self) -> GenerationSettings:
        g = self.recipe.generation
        return GenerationSettings(max_new_tokens=g.max_new_tokens, temperature=g.temperature, batch_size=g.batch_size)

    def model_identity(self) -> dict[str, Any]:
        """What a saved answer, prompt or search depends on in the model: its recipe section (less how
        requests travel) and the precision its weights run in (``auto`` resolves per machine)."""
        section = self.recipe.model.model_dump(mode="json", exclude=TRANSPORT)
        return {**section, "runs_in": getattr(self.generator, "dtype", None)}

    def strategies_for(self, dataset: TaskDataset) -> list[str]:
        """The recipe's strategies scored on ``dataset`` (all of them unless its example set lists some)."""
        return [s for s in self.recipe.strategies if dataset.strategies is None or s in dataset.strategies]

    def settings_for(self, dataset: TaskDataset) -> GenerationSettings:
        """Decoding settings with the dataset's own answer length, where it sets one."""
        if dataset.max_new_tokens is None:
            return self.settings
        return replace(self.settings, max_new_tokens=dataset.max_new_tokens)


def open_workspace(
    recipe: Recipe,
    reporter: Reporter | None = None,
    generator: Generator | None = None,
    model_at: tuple[str, ...] = ("model",),
) -> Workspace:
    """Load datasets and corpus (cheap, and where bad input is found) before the model (slow). ``model_at``:
    the recipe field a model that will not load is reported at (``models.NAME`` for one of several).

    Raises:
        RecipeError: the recipe lists several models (see :func:`tailor.candidates.workspaces`).
        DataError: an examples file or the corpus is unusable, or no document is there for a strategy that
            retrieves.
        ModelError: the model cannot be loaded.
    """
    from tailor.models.load import load_model_at

    if recipe.models is not None:
        raise RecipeError(
            recipe.problem("lists several models: open each with tailor.candidates.workspaces(recipe)", "models")
        )
    reporter = reporter or SilentReporter()
    datasets = tuple(load_datasets(recipe))
    corpus = tuple(load_corpus(recipe))
    retrieving = [s for s in recipe.strategies if plugins.strategy(s).retrieves]
    if retrieving and not corpus:  # before any model work: a search or training would be wasted
        need = "needs" if len(retrieving) == 1 else "need"
        raise DataError(
            recipe.problem(f"{', '.join(retrieving)} {need} documents; data.corpus matched none", "data", "corpus")
        )
    reporter.log(
        f"data: {len(datasets)} dataset(s) "
        f"({', '.join(f'{d.name}: {len(d.examples)} {d.kind}' for d in datasets)}), {len(corpus)} document(s)"
    )
    if generator is None:
        reporter.log(f"model: loading {_describe(recipe)}")
        generator = load_model_at(recipe, recipe.model, model_at, reporter.log)
        if getattr(generator, "dtype", None):
            reporter.log(f"model: weights in {generator.dtype} (model.dtype: {recipe.model.dtype})")
    return Workspace(recipe, datasets, corpus, generator, reporter)


def _describe(recipe: Recipe) -> str:
    m = recipe.model
    if isinstance(m, PackagedModel):
        return f"packaged {m.name}"
    if isinstance(m, OpenAIModel):
        return f"{m.model} at {m.base_url}"
    return f"{m.kind} {m.path}"
