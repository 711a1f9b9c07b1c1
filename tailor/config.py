"""The recipe (``tailor.yaml``): one strict pydantic model per section, with errors naming file, line, field.

Each section is declared in the ``settings`` module of the package it configures (``tailor.rag.settings``,
``tailor.finetune.settings``...), with its defaults; this module assembles them under :class:`Recipe`, with
the checks that span sections. Every ``description`` is written once and shown twice: in the commented
recipe ``tailor init`` writes, and in error messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, PrivateAttr, StringConstraints, model_validator

from tailor import plugins
from tailor.data.settings import DataConfig
from tailor.errors import Problem, RecipeError
from tailor.eval.settings import CostConfig, EvalConfig, UntilDecidedConfig
from tailor.finetune.settings import FinetuneConfig, RaftConfig
from tailor.models.settings import GenerationConfig, ModelConfig, PackagedModel
from tailor.prompt.settings import PromptConfig
from tailor.rag.settings import RagConfig
from tailor.report.settings import ConstraintsConfig
from tailor.section import Section, StrategyName, SuiteName
from tailor.serve.settings import ServeConfig
from tailor.synth.settings import SynthConfig

DEFAULT_RECIPE_NAME = "tailor.yaml"
# A base model's name under models: (a candidate is strategy@name, so no @ in it).
ModelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")]


class Recipe(Section):
    model: ModelConfig = Field(
        default_factory=PackagedModel,
        description="the base model; kind: packaged | hf (path or hub id) | gguf (path) | openai (base_url, model, "
        "api_key_env)",
    )
    models: dict[ModelName, ModelConfig] | None = Field(
        None,
        description="several base models to compare instead of model:, by a name of yours (each of the kinds "
        "model: takes); every strategy is built on each where it can be, and scored as strategy@name",
    )
    generation: GenerationConfig = Field(default_factory=GenerationConfig, description="decoding settings")
    data: DataConfig = Field(description="documents and task examples")
    strategies: list[StrategyName] = Field(
        default_factory=plugins.default_strategies,
        min_length=1,
        description="strategies to build and compare (see `tailor plugins`; those that train are opt-in)",
    )
    suites: list[SuiteName] = Field(
        default_factory=lambda: list(plugins.suites()),
        min_length=1,
        description="evaluation suites to run (see `tailor plugins`)",
    )
    prompt: PromptConfig = Field(
        default_factory=PromptConfig, description="the prompt search of prompt, rag and rag+finetune (shared budget)"
    )
    rag: RagConfig = Field(default_factory=RagConfig, description="retrieval-augmented generation")
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig, description="fine-tuning (LoRA by default)")
    raft: RaftConfig = Field(
        default_factory=RaftConfig,
        description="the raft strategy: finetune's training, questions shown as rag shows them",
    )
    eval: EvalConfig = Field(default_factory=EvalConfig, description="what every strategy is scored on")
    cost: CostConfig = Field(default_factory=CostConfig, description="prices for the cost suite's $ figures")
    constraints: ConstraintsConfig = Field(
        default_factory=ConstraintsConfig, description="limits and facts the recommendation weighs"
    )
    serve: ServeConfig = Field(default_factory=ServeConfig, description="the OpenAI-compatible server")
    synth: SynthConfig[ModelConfig] = Field(default_factory=SynthConfig, description="tailor synth: a checked test set")
    seed: int = Field(0, description="one seed for splits, sampling and search")
    out: str = Field("runs/latest", description="run directory, relative to the recipe")

    # Directory relative paths are resolved against (the recipe's own directory).
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    # Where the recipe came from, to point later errors (a model that will not load) at a line.
    _source: Path | None = PrivateAttr(default=None)
    _lines: dict[tuple, int] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Recipe:
        problems = []
        if self.models is not None and "model" in self.model_fields_set:
            problems.append("set model: (one base model) or models: (several), not both")
        if self.models is not None and not self.models:
            problems.append("models: names no model; list at least one, or use model:")
        for name in ("strategies", "suites"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                problems.append(f"{name} lists an entry twice: {values}")
        for spec in self.data.examples:
            extra = sorted(set(spec.strategies or ()) - set(self.strategies))
            if extra:
                problems.append(f"dataset {spec.dataset_name!r} asks for {extra}, which strategies: does not list")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    def model_axis(self) -> dict[str, ModelConfig]:
        """The base models compared, by name: ``models:``, or ``model:`` alone under its own name."""
        return dict(self.models) if self.models is not None else {model_label(self.model): self.model}

    def writer_model(self) -> tuple[ModelConfig, tuple[str, ...]]:
        """The model `tailor synth` writes questions with, and its field: ``synth.model``; else with ``models:``,
        the last listed (a ladder lists the strongest last); else ``model:``."""
        if self.synth.model is not None:
            return self.synth.model, ("synth", "model")
        if self.models:
            name, model = list(self.models.items())[-1]
            return model, ("models", name)
        return self.model, ("model",)

    def model_fields_at(self) -> list[tuple[tuple[str, ...], ModelConfig]]:
        """Every model the recipe names, with the field it is at (model, models.NAME, synth.model, eval.judge)."""
        named: list[tuple[tuple[str, ...], ModelConfig]] = (
            [(("models", name), m) for name, m in self.models.items()] if self.models else [(("model",), self.model)]
        )
        if self.synth.model is not None:
            named.append((("synth", "model"), self.synth.model))
        if self.eval.judge is not None:
            named.append((("eval", "judge"), self.eval.judge))
        return named

    def resolve(self, path: str | Path) -> Path:
        """A recipe path made absolute against the recipe's directory."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self._base_dir / p)

    @property
    def out_dir(self) -> Path:
        return self.resolve(self.out)

    @property
    def index_dir(self) -> Path:
        return self.resolve(self.rag.index_dir) if self.rag.index_dir else self.out_dir / "index"

    def problem(self, message: str, *loc: str | int) -> Problem:
        """A problem located at field ``loc`` of the recipe file this recipe was loaded from."""
        line = next((self._lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in self._lines), None)
        return Problem(message, file=self._source, line=line, field=dotted(loc))

    def with_suites(self, suites: str | None = None, mode: str | None = None, until_decided: bool = False) -> Recipe:
        """A copy running ``suites`` (comma-separated names; None: the recipe's) in ``mode`` (None: the recipe's);
        ``until_decided``: in batches until decided (eval.until_decided, its defaults where the recipe has none).

        Raises:
            RecipeError: a name is not a suite.
        """
        update: dict[str, Any] = {}
        if suites is not None:
            names = [s.strip() for s in suites.split(",") if s.strip()]
            known = list(plugins.suites())
            unknown = [s for s in names if s not in known] or ([] if names else [suites])
            if unknown:
                raise RecipeError(
                    Problem(f"unknown suite {unknown[0]!r}; choose from {', '.join(known)}", field="--suites")
                )
            update["suites"] = list(dict.fromkeys(names))
        if mode is not None:
            update["eval"] = self.eval.model_copy(update={"mode": mode})
        if until_decided and self.eval.until_decided is None:
            update["eval"] = update.get("eval", self.eval).model_copy(update={"until_decided": UntilDecidedConfig()})
        return self.model_copy(update=update)  # keeps the base dir and source lines

    def with_base_dir(self, base_dir: Path) -> Recipe:
        """A copy whose relative paths resolve against ``base_dir``."""
        copy = self.model_copy()
        copy._base_dir = Path(base_dir).resolve()
        return copy


def model_label(model: ModelConfig) -> str:
    """A model's name in reports: the packaged name, the directory's or file's name, or the endpoint's model."""
    kind = getattr(model, "kind", "")
    if kind == "packaged":
        return model.name
    if kind == "openai":
        return model.model.rsplit("/", 1)[-1]
    path = Path(model.path)
    return path.stem if kind == "gguf" else path.name


def dotted(path: tuple) -> str:
    s = ""
    for part in path:
        s += f"[{part}]" if isinstance(part, int) else (f".{part}" if s else str(part))
    return s or "(top level)"
