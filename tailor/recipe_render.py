"""A recipe as commented YAML: what ``tailor init`` writes, every field with its meaning.

Suites' sizes (``eval.<size>``) are declared by the suites themselves (tailor.plugins); they are
written as comments with their quick and full defaults, or as values where the recipe sets them.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from tailor import plugins
from tailor.config import Recipe
from tailor.eval.settings import EvalConfig


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
        if isinstance(section, Recipe) and name == "model" and section.models is not None:
            continue  # models: replaces it
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
        elif isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
            lines.append(f"{pad}{name}:{note}")
            for key, item in value.items():
                shown = {"kind": getattr(item, "kind", None), **item.model_dump(mode="json", exclude_defaults=True)}
                lines.append(f"{pad}  {key}: {_scalar({k: v for k, v in shown.items() if v is not None})}")
        elif value is None:
            lines.append(f"{pad}# {name}:{note}")
        else:
            lines.append(f"{pad}{name}: {_scalar(value)}{note}")
    if isinstance(section, EvalConfig):
        set_sizes = section.model_extra or {}
        for size in plugins.sizes().values():
            raised = ", or what eval.detect needs" if size.scored else ""
            note = f"  # {size.description} (default: {size.quick} quick, {size.full} full{raised})"
            value = set_sizes.get(size.name)
            lines.append(f"{pad}# {size.name}:{note}" if value is None else f"{pad}{size.name}: {value}{note}")
