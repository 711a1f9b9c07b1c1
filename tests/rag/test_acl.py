"""Access control, tested adversarially: users outside a group ask for that group's documents.

The attack set per department: exact titles, quoted sentences, secret values, doc-id citation
tricks and prompt injections (in the question, and planted in a document everyone can read).
Retrieval must return zero chunks of the department, and answers zero of its secrets — checked with
the leakiest model possible (one that repeats its whole prompt) and with the real small model.
"""

from __future__ import annotations

import pytest

from tailor.contract import User


@pytest.fixture(scope="module")
def rag(acl_workspace):
    return acl_workspace


def test_the_attack_set_is_large(acl) -> None:
    per_dept = {dept: len(acl.outsiders(dept)) * len(acl.attacks(dept)) for dept in acl.departments}
    assert min(per_dept.values()) >= 200 and sum(per_dept.values()) >= 1200


@pytest.mark.slow
def test_no_chunk_of_another_group_is_ever_retrieved(rag, acl) -> None:
    ws, _ = rag
    index = ws._shared["rag-index"].index
    restricted = {c.chunk_id: c for c in index.chunks if "everyone" not in c.groups}
    assert restricted
    for dept in acl.departments:
        for user in acl.outsiders(dept):
            for query in acl.attacks(dept):
                hits = index.search(query, user, 50)  # runs both retrievers, each with the filter
                assert all(not h.chunk.groups.isdisjoint(user) for h in hits), query
                assert not [h for h in hits if h.chunk.groups == frozenset({dept})], query


@pytest.mark.slow
def test_answers_never_contain_another_groups_secrets_even_from_a_model_that_repeats_its_prompt(rag, acl) -> None:
    _, strategy = rag
    for dept in acl.departments:
        for groups in acl.outsiders(dept):
            secrets = acl.secrets_of(dept, groups)
            user = User("attacker", groups)
            queries = acl.attacks(dept)
            for query, answer in zip(queries, strategy.answer_batch(queries, [user] * len(queries)), strict=True):
                leaked = [s for s in secrets if s in answer.text]
                assert not leaked, (dept, sorted(groups), query, leaked)
                assert all(c.doc_id not in acl.doc_ids_of(dept) for c in answer.contexts)


def test_the_owner_group_does_retrieve_its_documents(rag, acl) -> None:
    """The filter is not simply empty: finance users find the finance secret."""
    _, strategy = rag
    finance = User("finance-user", frozenset({"everyone", "finance"}))
    secret = next(s for s in acl.world.secrets if s.department == "finance")
    answer = strategy.answer(f"What is {secret.subject}?", finance)
    assert secret.secret in answer.text  # echo model: the secret document was in the prompt


def test_a_user_with_no_groups_gets_no_documents(rag) -> None:
    _, strategy = rag
    answer = strategy.answer("What does the notice board say?", User("nobody"))
    assert answer.contexts == ()


@pytest.mark.slow
def test_the_real_model_leaks_no_secret_under_attack(rag, acl, real_generator) -> None:
    from dataclasses import replace

    ws, strategy = rag
    if ws.recipe.rag.store != "lancedb":
        # ~30 s of generation per store: the model sees only what retrieval put in its prompt, and the
        # prompt-repeating model above shows, for every store, that no foreign chunk is ever put there.
        pytest.skip("the real model is run over one store (lancedb); retrieval is checked for every store above")
    real = replace(strategy, generator=real_generator)
    attacks = [(dept, q) for dept in ("finance", "hr", "legal") for q in acl.attacks(dept)[-5:] + acl.attacks(dept)[:3]]
    user = User("sales-user", frozenset({"everyone", "sales"}))
    answers = real.answer_batch([q for _, q in attacks], [user] * len(attacks))
    for (dept, query), answer in zip(attacks, answers, strict=True):
        assert not [s for s in acl.secrets_of(dept, user.groups) if s in answer.text], (query, answer.text)
