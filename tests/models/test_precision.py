"""model.dtype: which precision local weights load in, and that what ran is part of every reuse key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tailor.errors import RecipeError
from tailor.models.precision import bf16_in_cpuinfo, cpu_has_bf16, resolve
from tailor.recipe_file import load_recipe
from tailor.scaffold import init_project
from tailor.workspace import open_workspace

X86_BF16 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_bf16 amx_tile\nbugs\t\t: spectre\n"
X86_PLAIN = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni\n"
ARM_BF16 = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"


def test_the_cpus_own_flag_lists_decide_and_auto_follows_them() -> None:
    assert bf16_in_cpuinfo(X86_BF16) and bf16_in_cpuinfo(ARM_BF16)
    assert not bf16_in_cpuinfo(X86_PLAIN) and not bf16_in_cpuinfo("")
    assert resolve("auto", cuda=False) == ("bfloat16" if cpu_has_bf16() else "float32")
    assert resolve("float32", cuda=False) == "float32" and resolve("bfloat16", cuda=False) == "bfloat16"


def _recipe(root: Path, dtype: str) -> Path:
    path = init_project(root, size="tiny")
    recipe = yaml.safe_load(path.read_text())
    recipe["model"]["dtype"] = dtype
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_an_unknown_precision_is_a_recipe_error_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"model\.dtype"):
        load_recipe(_recipe(tmp_path, "float16"))


def test_the_recipes_precision_is_what_loads_and_what_saved_work_is_keyed_by(tmp_path: Path, real_generator) -> None:
    from tailor.models.load import load_generator

    recipe = load_recipe(_recipe(tmp_path, "float32"))
    exact = load_generator(recipe)
    assert exact.dtype == "float32" and {str(p.dtype) for p in exact.model.parameters()} == {"torch.float32"}
    assert real_generator.dtype == resolve("auto", cuda=False)  # the session's model: dtype auto
    # The same recipe run in another precision is other work: answers, searches and checkpoints say so.
    identity = open_workspace(recipe, generator=exact).model_identity()
    assert identity["runs_in"] == "float32" and identity["dtype"] == "float32"
    other = open_workspace(recipe, generator=real_generator).model_identity()
    assert (other == identity) == (real_generator.dtype == "float32")
