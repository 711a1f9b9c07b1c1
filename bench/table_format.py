"""Markdown for the docs' generated tables: rows, tables, the line naming a block's record, intervals."""

from __future__ import annotations

from typing import Any

Record = dict[str, Any]


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


def p_value(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
