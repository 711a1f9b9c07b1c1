"""The recipe (``tailor.yaml``): one pydantic model per section, strict, with errors naming file, line, field.

Defaults live here and nowhere else. Every ``description`` is written once and shown twice: in the
commented recipe ``tailor init`` writes, and in error messages.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from tailor import plugins
from tailor.errors import Problem, RecipeError
from tailor.eval.metrics import examples_to_separate
from tailor.eval.settings import CostConfig, FreshnessConfig, UntilDecidedConfig
from tailor.finetune.settings import RaftConfig
from tailor.models.settings import ModelConfig, PackagedModel
from tailor.prompt.settings import PromptConfig
from tailor.report.settings import ConstraintsConfig
from tailor.section import Section
from tailor.synth.settings import SynthConfig


def _registered(kind: str) -> Callable[[str], str]:
    """A check that a name is a registered suite, strategy or store (see tailor.plugins)."""

    def check(name: str) -> str:
        known = {"suite": plugins.suites, "strategy": plugins.strategies, "store": plugins.stores}[kind]()
        if name not in known:
            raise ValueError(f"unknown {kind} {name!r}; choose from {', '.join(known)}")
        return name

    return check


StrategyName = Annotated[str, AfterValidator(_registered("strategy"))]
SuiteName = Annotated[str, AfterValidator(_registered("suite"))]
StoreName = Annotated[str, AfterValidator(_registered("store"))]

DEFAULT_RECIPE_NAME = "tailor.yaml"
# An access group: what documents, examples and API keys name (also in front matter `groups:`).
GROUP_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
GroupName = Annotated[str, StringConstraints(pattern=GROUP_PATTERN)]
# A base model's name under models: (a candidate is strategy@name, so no @ in it).
ModelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")]


class GenerationConfig(Section):
    max_new_tokens: int = Field(32, ge=1, le=4096, description="longest answer, in tokens")
    batch_size: int = Field(8, ge=1, le=512, description="prompts generated together (higher: faster, more memory)")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0 is greedy decoding (reproducible)")


class ExampleSet(Section):
    path: str = Field(description="JSONL file: one {id, question, answer[, label, split, user, groups]} per line")
    name: str | None = Field(None, description="dataset name in reports (default: the file name without .jsonl)")
    instruction: str | None = Field(None, description="task instruction for the baseline (default: by task kind)")
    max_new_tokens: int | None = Field(
        None, ge=1, le=4096, description="answer length for this dataset (default: generation.max_new_tokens)"
    )
    strategies: list[StrategyName] | None = Field(None, description="strategies scored on it (default: all)")
    metric: Literal["token_f1", "exact_match", "contains", "rouge_l", "semantic", "accuracy"] | None = Field(
        None, description="what the decision and prompt search rank by (default: token_f1; accuracy for labels)"
    )

    @property
    def dataset_name(self) -> str:
        return self.name or Path(self.path).name.removesuffix(".jsonl")


class AccessRule(Section):
    glob: str = Field(description="corpus files this rule covers, relative to the recipe")
    groups: list[GroupName] = Field(min_length=1, description="access groups allowed to read them")


class SplitConfig(Section):
    train: float = Field(0.5, ge=0, le=1, description="share for few-shot pools and training")
    dev: float = Field(0.2, ge=0, le=1, description="share for prompt search and model selection")
    test: float = Field(0.3, gt=0, le=1, description="share held out for evaluation")

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitConfig:
        total = self.train + self.dev + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + dev + test must sum to 1 (got {total:g})")
        return self


class DataConfig(Section):
    corpus: list[str] = Field(
        default_factory=list, description="document globs (.md .txt .html .pdf .jsonl), relative to the recipe"
    )
    examples: list[ExampleSet] = Field(min_length=1, description="task example files; each is one dataset")
    access: list[AccessRule] = Field(
        default_factory=list, description="access groups by path; front matter `groups:` also works"
    )
    default_groups: list[GroupName] = Field(
        default_factory=list,
        description="groups of documents and examples that name none; empty: such documents are visible to nobody",
    )
    split: SplitConfig = Field(default_factory=SplitConfig, description="split for examples without `split`")

    @model_validator(mode="after")
    def _unique_dataset_names(self) -> DataConfig:
        names = [e.dataset_name for e in self.examples]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"dataset names must be unique (repeated: {', '.join(dupes)}); set `name:`")
        return self


class RagConfig(Section):
    embedder: Literal["minilm", "wordllama"] = Field(
        "minilm", description="all-MiniLM-L6-v2 (384 dims) or WordLlama (static: ~100x faster, weaker)"
    )
    chunk_tokens: int = Field(128, ge=16, le=4096, description="chunk size in the generator's tokens")
    chunk_overlap: int = Field(16, ge=0, description="tokens a chunk repeats from the one before it")
    k: int = Field(3, ge=1, le=100, description="chunks in front of the model, where rag's search starts")
    shots: int = Field(3, ge=0, le=32, description="train-split demonstrations rag's prompt search starts from")
    candidates: int = Field(20, ge=1, le=1000, description="chunks each retriever proposes before fusion")
    retrievers: list[Literal["dense", "lexical"]] = Field(
        default_factory=lambda: ["dense", "lexical"],
        min_length=1,
        description="dense (embeddings), lexical (BM25); both are fused by reciprocal rank",
    )
    rrf_k: int = Field(60, ge=1, description="reciprocal rank fusion constant (higher flattens ranks)")
    rerank: Literal["none", "mmr"] = Field("none", description="mmr trades relevance for diversity among chunks")
    mmr_lambda: float = Field(0.7, ge=0, le=1, description="with rerank: mmr, 1 is pure relevance")
    context_tokens: int = Field(768, ge=64, description="token budget for retrieved chunks, where the search starts")
    instruction: str = Field(
        "Reply with only the answer: a name, number, date or short phrase, taken from the documents.",
        description="what the model is told before the retrieved documents (the search tries others)",
    )
    index_dir: str | None = Field(None, description="where the index lives (default: OUT/index)")
    store: StoreName = Field(
        "lancedb",
        description="vector store: lancedb (embedded, under index_dir) or pgvector (a PostgreSQL server, "
        "which enforces document access itself too)",
    )
    pg_uri: str | None = Field(
        None, description="pgvector: URI of the role that owns tailor's tables (a password here: use pg_uri_env)"
    )
    pg_uri_env: str | None = Field(None, description="pgvector: environment variable holding that URI instead")
    pg_reader_uri_env: str | None = Field(
        None,
        description="pgvector: environment variable holding the URI per-user queries run as "
        "(default: pg_uri's server as role tailor_reader, no password)",
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> RagConfig:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be below chunk_tokens ({self.chunk_tokens})")
        return self

    @model_validator(mode="after")
    def _one_server(self) -> RagConfig:
        given = [f for f in ("pg_uri", "pg_uri_env") if getattr(self, f) is not None]
        if self.store == "pgvector" and len(given) != 1:
            raise ValueError("store: pgvector needs exactly one of pg_uri and pg_uri_env")
        if self.store != "pgvector" and (given or self.pg_reader_uri_env):
            raise ValueError(f"pg_uri, pg_uri_env and pg_reader_uri_env are for store: pgvector, not {self.store}")
        return self


class CanaryConfig(Section):
    count: int = Field(0, ge=0, le=1000, description="secret canaries planted in the training data (0: none)")
    repetitions: list[int] = Field(
        default_factory=lambda: [1, 4, 16],
        min_length=1,
        description="times each canary is repeated; canaries cycle through these counts",
    )

    @field_validator("repetitions")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(r < 1 for r in value):
            raise ValueError(f"every repetition count must be at least 1, got {value}")
        return value


class FinetuneConfig(Section):
    method: Literal["lora", "full"] = Field("lora", description="lora (peft adapter, default) or full fine-tuning")
    lora_r: int = Field(16, ge=1, le=512, description="LoRA rank (higher: more capacity and memory)")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling numerator (effective scale alpha / r)")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="dropout on the LoRA path")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="layers that get adapters: all-linear, or names such as [q_proj, v_proj]"
    )
    learning_rate: float = Field(2e-4, gt=0, le=1, description="peak learning rate (full fine-tuning: try 2e-5)")
    learning_rate_factors: list[float] = Field(
        default_factory=lambda: [0.5, 1.0, 2.0],
        min_length=1,
        max_length=8,
        description="full mode: learning_rate times each of these is trained and the lowest dev loss kept "
        "(each trial costs a training run; [1]: no search; quick mode trains learning_rate alone)",
    )

    @field_validator("learning_rate_factors")
    @classmethod
    def _positive_factors(cls, value: list[float]) -> list[float]:
        if any(f <= 0 for f in value):
            raise ValueError(f"every learning-rate factor must be above 0, got {value}")
        return value

    max_steps: int = Field(60, ge=1, description="most optimizer steps to train (fewer if dev loss stops improving)")
    epochs: float | None = Field(None, gt=0, le=100, description="passes over the data instead of max_steps")
    dev_every: int = Field(10, ge=0, description="dev-split loss every this many steps and at the end (0: never)")
    patience: int | None = Field(
        3, ge=1, description="stop after this many dev losses without a new best (null: never)"
    )
    warmup_steps: int = Field(5, ge=0, description="steps of linear warm-up before linear decay")
    batch_size: int = Field(8, ge=1, description="sequences per device per step")
    grad_accum: int = Field(1, ge=1, description="steps whose gradients add up before an update")
    max_seq_tokens: int = Field(256, ge=16, description="longest training sequence; longer ones are cut")
    save_steps: int = Field(20, ge=1, description="checkpoint every this many steps (resume point)")
    knowledge: bool = Field(True, description="also train on the corpus (chunks as continued pre-training text)")
    knowledge_tokens: int = Field(128, ge=16, description="chunk size for knowledge text, in tokens")
    knowledge_qa: int = Field(
        2,
        ge=0,
        le=8,
        description="question/answer pairs per fact found in the documents, each worded differently (0: none)",
    )
    packing: bool = Field(
        True,
        description="padding-free batches: sequences end to end in one row, logits only where tokens are learned",
    )
    gradient_checkpointing: bool = Field(False, description="recompute activations: less memory, ~30% slower")
    strict: bool = Field(False, description="any data-check finding stops training (not only leakage)")
    canaries: CanaryConfig = Field(
        default_factory=CanaryConfig,
        description="random secrets planted in training (recorded in OUT/finetune/canaries.json) to measure leakage",
    )


_SIZE = TypeAdapter(Annotated[int, Field(ge=1)] | None)


class EvalConfig(Section):
    """What every strategy is scored on. Besides these fields, each suite's sizes (``eval.<size>``, see
    ``tailor plugins``) may be set here; unset, they follow ``mode``."""

    model_config = ConfigDict(extra="allow", frozen=True)  # only declared suite sizes: checked below

    split: Literal["dev", "test"] = Field("test", description="split every strategy is scored on")
    limit: int | None = Field(None, ge=1, description="score at most this many examples per dataset")
    mode: Literal["quick", "full"] = Field(
        "full", description="suite sizes: quick (the demo's, minutes on a CPU) or full (what a decision rests on)"
    )
    detect: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="smallest difference in a 0-1 score every suite's comparisons should detect (p < 0.05, 80% "
        "power): sizes that count scored questions are raised to what it takes (0.3: 44; unset: the mode's)",
    )
    compress: list[Literal["bf16", "int8", "q8_0", "q4_k_m"]] = Field(
        default_factory=list,
        description="compress: variants every local-weights strategy is also scored with (q8_0, q4_k_m: llama.cpp)",
    )
    freshness: FreshnessConfig | None = Field(
        None, description="freshness: the documents' new version (none: simulated edits of the current documents)"
    )
    judge: ModelConfig | None = Field(
        None, description="judge: a model (same kinds as model:) grading answers against the reference (none: skipped)"
    )
    until_decided: UntilDecidedConfig | None = Field(
        None, description="answer in batches until one strategy is separated from every other (--until-decided)"
    )

    @model_validator(mode="after")
    def _suite_sizes(self) -> EvalConfig:
        """Every extra key must be a size some suite declares, with a positive whole value."""
        declared, errors = plugins.sizes(), []
        for key, value in (self.__pydantic_extra__ or {}).items():
            if key not in declared:
                errors.append(InitErrorDetails(type="extra_forbidden", loc=(key,), input=value))
                continue
            try:
                self.__pydantic_extra__[key] = _SIZE.validate_python(value)
            except ValidationError as e:
                errors += [
                    InitErrorDetails(type=err["type"], loc=(key,), input=value, ctx=err.get("ctx", {}))
                    for err in e.errors()
                ]
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    def size(self, name: str) -> int:
        """A suite's size: the recipe's explicit value, else the mode's default for it, raised for ``detect``.

        Raises:
            KeyError: no suite declares a size ``name``.
        """
        value = (self.__pydantic_extra__ or {}).get(name)
        if value is not None:
            return value
        size = plugins.sizes()[name]
        default = size.quick if self.mode == "quick" else size.full
        if self.detect is not None and size.scored:  # scores of two strategies with unrelated errors: sd ≤ √½
            default = max(default, examples_to_separate(self.detect, math.sqrt(0.5)) or default)
        return default


class ServeConfig(Section):
    """`tailor serve`: which strategies answer as which model names, who may call them, and load limits."""

    host: str = Field("127.0.0.1", description="interface to listen on (0.0.0.0: every interface)")
    port: int = Field(8000, ge=1, le=65535, description="TCP port")
    dataset: str | None = Field(None, description="dataset whose strategies are served (default: the first)")
    strategies: list[StrategyName] | None = Field(
        None, description="strategies served, each as model tailor-<name> (default: the dataset's)"
    )
    keys: str = Field(
        "keys.yaml", description="API keys file, hashed (tailor keys add); the TAILOR_API_KEYS variable overrides it"
    )
    batch_size: int = Field(8, ge=1, le=256, description="requests answered together (1: unbatched)")
    batch_wait_ms: float = Field(10.0, ge=0, le=2000, description="how long a batch waits to fill")
    max_queue: int = Field(64, ge=1, le=100_000, description="requests waiting at most; more get 429 + Retry-After")
    retry_after_s: int = Field(1, ge=1, le=3600, description="Retry-After on a 429")
    max_input_chars: int = Field(8000, ge=1, description="longest question; longer gets 413")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="largest request body; larger gets 413")
    drain_timeout_s: float = Field(30.0, ge=0, le=3600, description="on SIGTERM, most seconds to finish requests")
    debug_log: str | None = Field(None, description="file for unexpected errors' tracebacks (default: none)")


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
