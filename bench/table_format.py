"""Markdown for the docs' generated tables: rows, tables, the line naming a block's record, intervals."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

Record = dict[str, Any]
END = "<!-- end generated -->"  # closes every generated block


def row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table(header: list[str], rows: list[list[object]]) -> str:
    return "\n".join([row(*header), "|" + "---|" * len(header), *(row(*r) for r in rows)])


def source(record: Record, name: str, how: str = "") -> str:
    """The line each block opens with: the command that wrote the record, the record, and how it ran."""
    return f"`{record['command'].strip()}` → `bench/results/{name}.json`{'; ' + how if how else ''}.\n\n"


def ci(cell: dict[str, Any]) -> str:
    low, high = cell["ci"]
    return f"{cell['value']:.3f} ({low:.2f}–{high:.2f})"


def p_value(p: float | None) -> str:
    """A p-value as the tables print it; a dash where none was recorded."""
    if p is None:
        return "–"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def replace_block(text: str, block: str, where: Path, begin: str) -> str:
    """``text`` with the block opened by ``begin`` and closed by the next ``END`` holding ``block``.

    Every docs generator (bench/demo_docs.py, bench/ladder_docs.py, bench/docs_blocks.py) fills its blocks
    with this.
    """
    pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{where}: no {begin} … {END} block to fill")
    return pattern.sub(lambda _: f"{begin}\n{block}{END}", text, count=1)
