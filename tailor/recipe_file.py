"""Reading a recipe file: YAML with the line of every key, validated, every problem reported at once.

The schema is in :mod:`tailor.config`; this module turns a file into it, and pydantic's errors into
problems that name the file, the line and the dotted field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tailor.config import DEFAULT_RECIPE_NAME, Recipe, dotted
from tailor.errors import Problem, RecipeError
from tailor.models.hub import is_repo_id
from tailor.models.settings import GGUFModel, HFModel


def _missing_freshness_files(recipe: Recipe, lines: dict[tuple, int], file: Path) -> list[Problem]:
    fresh, loc = recipe.eval.freshness, ("eval", "freshness", "examples")
    if fresh is None or fresh.examples is None or recipe.resolve(fresh.examples).is_file():
        return []
    return [
        Problem(f"file not found: {recipe.resolve(fresh.examples)}", file=file, line=lines.get(loc), field=dotted(loc))
    ]


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
    return Problem(msg, file=file, line=line, field=dotted(path))


def _missing_files(recipe: Recipe, lines: dict[tuple, int], file: Path) -> list[Problem]:
    problems = []
    for i, ex in enumerate(recipe.data.examples):
        if not recipe.resolve(ex.path).is_file():
            loc = ("data", "examples", i, "path")
            problems.append(
                Problem(
                    f"file not found: {recipe.resolve(ex.path)}; write your questions there, or run `tailor synth` "
                    "to generate a checked set from the documents",
                    file=file,
                    line=lines.get(loc),
                    field=dotted(loc),
                )
            )
    problems += _missing_freshness_files(recipe, lines, file)
    for at, model in recipe.model_fields_at():
        local = recipe.resolve(model.path) if isinstance(model, HFModel | GGUFModel) else None
        if local is None or local.exists() or (isinstance(model, HFModel) and is_repo_id(model.path, local)):
            continue
        what = "model directory" if isinstance(model, HFModel) else "GGUF file"
        loc = (*at, "path")
        problems.append(Problem(f"{what} not found: {local}", file=file, line=lines.get(loc), field=dotted(loc)))
    return problems
