"""Access control through the API: a user of one group never receives another group's document content,
secrets or document ids, by any route (chat, completions, streaming), under ≥200 adversarial prompts.

The model behind the served strategies is the leakiest possible: it repeats its whole prompt, so
anything retrieval or the prompt let through would show in the answer.
"""

from __future__ import annotations

import itertools
import logging

import pytest

from tailor.serve.keys import add_key, load_keys
from tailor.serve.server import build_state, running

openai = pytest.importorskip("openai", reason="pip install openai (the dev extra)")


@pytest.fixture(scope="module")
def served(acl_workspace, acl, tmp_path_factory):
    ws, _ = acl_workspace
    keys_file = tmp_path_factory.mktemp("keys") / "keys.yaml"
    tokens = {}
    for dept in acl.departments:
        tokens[dept], _ = add_key(keys_file, f"{dept}-user", ["everyone", dept])
    tokens["staff"], _ = add_key(keys_file, "staff", ["everyone"])
    tokens["nobody"], _ = add_key(keys_file, "nobody", [])
    from tailor.serve.settings import ServeConfig

    state = build_state(ws, load_keys(keys_file), ServeConfig(strategies=["rag", "prompt"], max_queue=256))
    with running(state) as base_url:
        yield base_url, tokens
    state.batcher.close()


def _ask(c, route: str, model: str, question: str) -> tuple[str, dict]:
    """(answer text, tailor extension) through one of the three routes."""
    if route == "chat":
        reply = c.chat.completions.create(model=model, messages=[{"role": "user", "content": question}])
        return reply.choices[0].message.content, reply.model_extra["tailor"]
    if route == "completions":
        reply = c.completions.create(model=model, prompt=question)
        return reply.choices[0].text, reply.model_extra["tailor"]
    chunks = list(c.chat.completions.create(model=model, messages=[{"role": "user", "content": question}], stream=True))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    return text, chunks[-1].model_extra["tailor"]


@pytest.mark.slow
def test_no_user_receives_another_groups_documents_through_any_route(served, acl, caplog):
    base_url, tokens = served
    routes = itertools.cycle(["chat", "completions", "stream"])
    models = itertools.cycle(["tailor-rag", "tailor-prompt"])
    asked = 0
    with caplog.at_level(logging.INFO, logger="tailor.serve"):
        for dept in acl.departments:
            outsiders = [t for name, t in tokens.items() if name != dept]
            readers = {t: name for name, t in tokens.items()}
            foreign_ids = acl.doc_ids_of(dept)
            for question, token in zip(acl.attacks(dept), itertools.cycle(outsiders), strict=False):
                name = readers[token]
                groups = frozenset() if name == "nobody" else frozenset({"everyone", name} - {"staff"})
                secrets = acl.secrets_of(dept, groups)
                c = openai.OpenAI(base_url=base_url, api_key=token, max_retries=0)
                text, extension = _ask(c, next(routes), next(models), question)
                leaked = [s for s in secrets if s in text]
                assert not leaked, (dept, name, question, leaked)
                assert not foreign_ids & set(extension["contexts"]), (dept, name, question)
                assert not foreign_ids & set(extension["citations"]), (dept, name, question)
                asked += 1
    assert asked >= 200
    # The log has ids, users and statuses only: no key, no question, no document text.
    assert all(t not in caplog.text for t in tokens.values())
    for dept in acl.departments:
        assert not [s for s in acl.secrets_of(dept) if s in caplog.text]
    assert "Which document says" not in caplog.text


def test_the_owner_does_get_its_documents(served, acl):
    """The filter is not simply empty: a finance key retrieves the finance secret through the API."""
    base_url, tokens = served
    secret = next(s for s in acl.world.secrets if s.department == "finance")
    c = openai.OpenAI(base_url=base_url, api_key=tokens["finance"], max_retries=0)
    text, extension = _ask(c, "chat", "tailor-rag", f"What is {secret.subject}?")
    assert secret.secret in text and acl.doc_ids_of("finance") & set(extension["contexts"])
