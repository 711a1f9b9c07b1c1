"""What `tailor eval` has finished, saved piece by piece so an interrupted run redoes only the rest.

Two kinds of piece, each one JSON file written atomically the moment it is complete:

- ``OUT/eval-cache/answers/<dataset>/<strategy>.json``: one strategy's answers to a dataset's
  evaluated examples, with what producing them cost (``tailor eval --until-decided``: one file per
  batch, ``answers/<dataset>/<strategy>/<part>.json``);
- ``OUT/eval-cache/suites/<dataset>/<suite>.json``: one suite's result rows on a dataset.

Each carries the key it was made under: a digest of everything that determines it (the model, the
examples and documents, the recipe sections the strategy or suite reads, the strategy's build).
A piece whose key differs is stale and is made again; nothing is ever half-read, because a piece is
either wholly on disk or absent.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tailor.artifacts import write_json_atomic
from tailor.contract import Answer, Context
from tailor.eval.base import NoRows, Noted, StrategyRun
from tailor.eval.results import ResultRow

CACHE_DIR = "eval-cache"


def digest(*parts: Any) -> str:
    """A stable digest of JSON-able ``parts``."""
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _safe(name: str) -> str:
    """A dataset, strategy or suite name as a path part (rag+finetune → rag_plus_finetune)."""
    return name.replace("/", "_").replace("+", "_plus_")


class Checkpoints:
    """The finished pieces of one run directory. ``fresh``: ignore what is there (and overwrite it)."""

    def __init__(self, out_dir: Path, fresh: bool = False):
        self.root = Path(out_dir) / CACHE_DIR
        self.fresh = fresh

    def _load(self, path: Path, key: str) -> dict[str, Any] | None:
        if self.fresh or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            return None  # unreadable: made again
        return data if isinstance(data, dict) and data.get("key") == key else None

    def answers_path(self, dataset: str, strategy: str, part: str | None = None) -> Path:
        """Where a strategy's answers are saved; ``part``: one batch of them (a file in the strategy's folder)."""
        folder = self.root / "answers" / _safe(dataset)
        return folder / (f"{_safe(strategy)}.json" if part is None else f"{_safe(strategy)}/{part}.json")

    def suite_path(self, dataset: str, suite: str) -> Path:
        return self.root / "suites" / _safe(dataset) / f"{_safe(suite)}.json"

    def load_run(self, dataset: str, strategy: str, key: str, part: str | None = None) -> StrategyRun | None:
        data = self._load(self.answers_path(dataset, strategy, part), key)
        if data is None:
            return None
        answers, unanswerable = (
            tuple(
                Answer(a["text"], tuple(Context(**c) for c in a["contexts"]), *a["tokens"], a["latency_s"])
                for a in data.get(field, ())
            )
            for field in ("answers", "unanswerable")
        )
        return StrategyRun(
            strategy, answers, data["wall_s"], data["peak_rss_bytes"], data["build_s"], data["info"], unanswerable
        )

    def save_run(self, dataset: str, run: StrategyRun, key: str, part: str | None = None) -> None:
        answers, unanswerable = (
            [
                {
                    "text": a.text,
                    "contexts": [asdict(c) for c in a.contexts],
                    "tokens": [a.prompt_tokens, a.completion_tokens],
                    "latency_s": a.latency_s,
                }
                for a in part
            ]
            for part in (run.answers, run.unanswerable)
        )
        payload = {"key": key, "strategy": run.strategy, "wall_s": run.wall_s, "peak_rss_bytes": run.peak_rss_bytes}
        extra = {"unanswerable": unanswerable} if unanswerable else {}
        write_json_atomic(
            self.answers_path(dataset, run.strategy, part),
            {**payload, "build_s": run.build_s, "info": run.info, "answers": answers, **extra},
        )

    def load_rows(self, dataset: str, suite: str, key: str) -> list[ResultRow] | None:
        data = self._load(self.suite_path(dataset, suite), key)
        if data is None:
            return None
        if data.get("reason"):
            return NoRows(data["reason"])
        rows = [ResultRow(**row) for row in data["rows"]]
        return Noted(rows, data["note"]) if data.get("note") else rows

    def save_rows(self, dataset: str, suite: str, rows: list[ResultRow], key: str) -> None:
        said = (
            {"reason": rows.reason}
            if isinstance(rows, NoRows)
            else {"note": rows.note}
            if isinstance(rows, Noted)
            else {}
        )
        write_json_atomic(self.suite_path(dataset, suite), {"key": key, "rows": [r.to_json() for r in rows], **said})
