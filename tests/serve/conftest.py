"""The served project most serve tests share: the tiny world, a scripted model and two API keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from tailor.recipe_file import load_recipe
from tailor.scaffold import init_project
from tailor.serve.keys import add_key
from tailor.workspace import open_workspace


def answer_from_prompt(messages) -> str:
    """Says which question it got and cites the first document in its prompt, like a rag answer."""
    question = messages[-1]["content"].rsplit("\n", 1)[-1]
    shown = [line[1:].split("]")[0] for m in messages for line in m["content"].splitlines() if line.startswith("[")]
    return f"answer to: {question}" + (f" [{shown[0]}]" if shown else "")


@pytest.fixture(scope="module")
def project(tmp_path_factory, scripted):
    """(workspace answering with :func:`answer_from_prompt`, keys file, {user: key}): alice may use every
    model, bob only tailor-baseline."""
    root: Path = tmp_path_factory.mktemp("serve")
    recipe_path = init_project(root, size="tiny")
    ws = open_workspace(load_recipe(recipe_path), generator=scripted(answer_from_prompt))
    keys = root / "keys.yaml"
    alice, _ = add_key(keys, "alice", ["everyone", "hr"])
    bob, _ = add_key(keys, "bob", ["everyone"], models=["tailor-baseline"])
    return ws, keys, {"alice": alice, "bob": bob}
