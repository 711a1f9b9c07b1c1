"""rag's prompt search: it rejects demonstrations that mislead the model, keeps every prompt within what
its user may see, shares prompt's budget and held-out confirmation, and keeps its choice across updates."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from tailor.contract import User, asker
from tailor.rag.pipeline import INDEX, ensure_index
from tailor.rag.search import (
    builder_factory,
    ensure_rag_tuned,
    stages,
    start_spec,
    tune_rag,
    tuned_path,
)
from tailor.recipe_file import load_recipe
from tailor.workspace import open_workspace

# Five tools' manuals; the questions ask which keyword does what. One train answer is a command-line
# option ("-E"): with it among rag's fixed demonstrations, the 135M model answers every question "-E"
# (the failure of issue 18, in miniature).
MANUALS = {
    "grep": "The grep tool searches text. The option -E turns on extended patterns. The option -i ignores case.",
    "pack": "The pack tool bundles files. To compress the bundle, give it the keyword squash. "
    "To encrypt the bundle, give it the keyword lock.",
    "mail": "The mail tool sends messages. To send a message later, give it the keyword delay. "
    "To send a copy to yourself, give it the keyword echo.",
    "draw": "The draw tool makes pictures. To fill a shape with colour, give it the keyword flood. "
    "To draw a border, give it the keyword frame.",
    "sync": "The sync tool copies folders. To delete files missing from the source, give it the keyword prune. "
    "To only show what would change, give it the keyword preview.",
}
MISLEADING = ("Which grep option turns on extended patterns?", "-E")
TRAIN = [MISLEADING, ("What does the grep tool search?", "text"), ("What does the pack tool bundle?", "files")]
DEV = [
    ("Which keyword makes the pack tool compress the bundle?", "squash"),
    ("Which keyword makes the mail tool send a message later?", "delay"),
    ("Which keyword makes the draw tool fill a shape with colour?", "flood"),
    ("Which keyword makes the sync tool delete files missing from the source?", "prune"),
    ("Which keyword makes the mail tool send a copy to yourself?", "echo"),
    ("Which keyword makes the draw tool draw a border?", "frame"),
    ("Which keyword makes the pack tool encrypt the bundle?", "lock"),
    ("Which keyword makes the sync tool only show what would change?", "preview"),
    ("Which keyword makes the pack tool compress the bundle, in one word?", "squash"),
]
TEST = [("What does the sync tool copy?", "folders"), ("What does the draw tool make?", "pictures")]


def manuals_project(root: Path, prompt: str) -> Path:
    """The tools' manuals and their questions as a project; ``prompt``: the recipe's prompt section (YAML flow)."""
    (root / "docs").mkdir(parents=True)
    for doc_id, text in MANUALS.items():
        front = f"---\ndoc_id: {doc_id}\ntitle: {doc_id} manual\ngroups: [everyone]\n---\n\n"
        (root / "docs" / f"{doc_id}.md").write_text(front + text + "\n")
    rows = [(q, a, split) for split, pairs in (("train", TRAIN), ("dev", DEV), ("test", TEST)) for q, a in pairs]
    lines = [
        json.dumps({"id": f"q{i}", "question": q, "answer": a, "split": s, "user": "u", "groups": ["everyone"]})
        for i, (q, a, s) in enumerate(rows)
    ]
    (root / "qa.jsonl").write_text("\n".join(lines) + "\n")
    recipe = root / "tailor.yaml"
    recipe.write_text(
        "data:\n  corpus: [docs/*.md]\n  examples: [{path: qa.jsonl, max_new_tokens: 8}]\n"
        f"strategies: [rag]\nrag: {{embedder: wordllama}}\nprompt: {prompt}\nout: run\n"
    )
    return recipe


def shown_answers(messages) -> list[str]:
    return [m["content"] for m in messages if m["role"] == "assistant"]


@pytest.mark.slow
def test_rag_search_rejects_a_demonstration_that_misleads_the_real_model(tmp_path, real_generator) -> None:
    recipe = manuals_project(tmp_path, "{candidates: 3, dev_size: 6, confirm_size: 3, shots: [0]}")
    ws = open_workspace(load_recipe(recipe), generator=real_generator)
    qa = ws.datasets[0]
    index = ws.shared(INDEX, lambda: ensure_index(ws)).index
    tuned = tune_rag(ws, qa, "rag", real_generator, index)
    builder_of = builder_factory(ws, qa, index)
    dev = qa.split("dev")
    # The fixed default shows all three train answers, "-E" among them, and scores nothing on dev ...
    default = start_spec(ws)
    assert all("-E" in shown_answers(builder_of(default)(e.question, asker(e)).messages) for e in dev)
    start = next(r for r in tuned.leaderboard if r["spec"] == asdict(default))
    assert start["score"] == 0.0, tuned.leaderboard
    # ... the search chooses a prompt that never shows it, and that answers better on dev.
    assert all("-E" not in shown_answers(builder_of(tuned.spec)(e.question, asker(e)).messages) for e in dev)
    assert tuned.dev_score > start["score"]
    assert tuned.n_dev == 6 and tuned.n_confirm == 3 and tuned.confirm_score is not None
    assert len(tuned.leaderboard) <= 3, tuned.leaderboard


def every_candidate(ws, dataset) -> list:
    """Every kind of prompt rag's search can choose: each stage's variants of the start."""
    start = start_spec(ws)
    return list(dict.fromkeys([start, *(spec for stage in stages(ws, dataset) for spec in stage(start))]))


@pytest.mark.slow
def test_every_kind_of_rag_candidate_holds_only_what_its_user_may_see(acl_workspace, acl) -> None:
    """Per-user isolation for each variant the search may choose (demonstrations drawn at random, by
    similarity, bootstrapped, redrawn; more or fewer chunks; another instruction), through the search's
    cached retrieval, against every outsider of every department, with a model that repeats its prompt."""
    ws, _ = acl_workspace
    qa = ws.datasets[0]
    candidates = every_candidate(ws, qa)
    assert {c.selection for c in candidates if c.shots} == {"random", "similar", "bootstrapped"}
    assert any(c.draw for c in candidates) and any(not c.shots for c in candidates)
    assert len({(c.k, c.context_tokens) for c in candidates}) == 4 and len({c.instruction for c in candidates}) > 2
    train = qa.split("train")
    index = ws.shared(INDEX, lambda: ensure_index(ws)).index
    # Bootstrapped demonstrations drawn from every train example: the worst case for isolation.
    builder_of = builder_factory(ws, qa, index, tuple(e.id for e in train), cache=True)
    builders = [builder_of(spec) for spec in candidates]
    for dept in acl.departments:
        queries = [*acl.attacks(dept)[:3], *acl.attacks(dept)[-3:]]
        for groups in acl.outsiders(dept):
            secrets, user = acl.secrets_of(dept, groups), User("attacker", groups)
            for build in builders:
                for query in queries:
                    built = build(query, user)
                    text = "\n".join(m["content"] for m in built.messages)
                    assert not [s for s in secrets if s in text], (dept, sorted(groups), query)
                    assert not {c.doc_id for c in built.contexts} & acl.doc_ids_of(dept)
                    shown = [m["content"] for m in built.messages[1:-1] if m["role"] == "user"]
                    assert all(any(e.question == q and set(e.groups) <= groups for e in train) for q in shown), (
                        dept,
                        sorted(groups),
                        shown,
                    )


def _rewarding_no_shots(key: dict[str, str]):
    """A model that answers right only when shown no demonstrations (a system message and the question)."""
    return lambda messages: key[messages[-1]["content"]] if len(messages) == 2 else "-E"


@pytest.mark.slow
def test_rag_search_shares_prompts_budget_holds_out_dev_and_keeps_its_choice(tiny_world_dir, tmp_path, scripted):
    import shutil

    from tailor.strategies import build_strategy
    from tailor.strategies.base import Update
    from tailor.strategies.rag import update

    shutil.copytree(tiny_world_dir, tmp_path / "world")
    recipe = tmp_path / "tailor.yaml"
    recipe.write_text(
        "data:\n  corpus: [world/docs/**/*.md]\n  examples: [{path: world/qa.jsonl}]\n"
        "strategies: [rag]\nrag: {embedder: wordllama}\nprompt: {candidates: 5, dev_size: 6, confirm_size: 3}\n"
        "out: run\n"
    )
    key: dict[str, str] = {}
    gen = scripted(lambda m: _rewarding_no_shots(key)(m))
    ws = open_workspace(load_recipe(recipe), generator=gen)
    qa = ws.datasets[0]
    key.update({e.question: e.answer for e in qa.examples})
    built = build_strategy("rag", ws, qa)
    saved = json.loads(tuned_path(ws, "rag", qa).read_text())
    assert saved["tailor_version"] and saved["spec"]["shots"] == 0 and saved["confirmed"]
    # prompt's budget, shared: 5 candidates × 6 dev examples, of which 6 bootstrapped the train examples the
    # model gets right (all: it is right whenever it is shown no demonstrations)
    assert saved["calls"] == 5 * 6 and len(saved["bootstrapped"]) == 6 and len(saved["leaderboard"]) == 4
    assert (saved["n_dev"], saved["n_confirm"]) == (6, 3) and saved["dev_score"] == saved["confirm_score"] == 1.0
    assert built.build.prompt.dev_score == 1.0 and built.build.prompt.dev_metric == "token_f1"
    asked = {p[-1]["content"] for p in gen.prompts}
    # The search asks dev questions, and bootstrapping train ones; never a test question.
    assert asked <= {e.question for e in [*qa.split("dev"), *qa.split("train")]}
    # Built again (serve, robustness, an update): the saved choice, no new search.
    calls = len(gen.prompts)
    assert ensure_rag_tuned(ws, qa, "rag", gen, ws.shared(INDEX, lambda: ensure_index(ws)).index).spec.shots == 0
    new = ws.derive(recipe=ws.recipe.model_copy(update={"out": "run/v2"}), corpus=ws.corpus[:-1])
    up = Update(ws, new, qa, qa, (), (), ())
    strategy, _ = update(built.strategy, up)
    e = qa.split("test")[0]
    assert len(strategy.build(e.question, asker(e)).messages) == 2  # still no demonstrations
    assert len(gen.prompts) == calls
    # A changed train split makes the saved choice stale.
    dropped = qa.split("train")[0].id
    changed = replace(qa, examples=[x for x in qa.examples if x.id != dropped])
    assert ensure_rag_tuned(ws, changed, "rag", gen, ws.shared(INDEX, lambda: ensure_index(ws)).index)
    assert len(gen.prompts) > calls
