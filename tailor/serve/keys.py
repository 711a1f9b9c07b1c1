"""API keys: each maps to a user, their access groups and the models they may call. Stored hashed.

The keys file (YAML, written by ``tailor keys add``; or the same content in ``TAILOR_API_KEYS``)::

    keys:
      - id: k-1a2b3c4d          # public id for logs: never the key itself
        user: alice
        groups: [everyone, finance]
        models: [tailor-rag]    # optional; absent: every served model
        sha256: 5e88...         # hex SHA-256 of the key

A key is looked up by hashing what the client sent and comparing it with every stored hash in
constant time (``hmac.compare_digest``, no early exit), so timing tells nothing about which key, or
how much of one, matched.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml

from tailor.artifacts import write_text_atomic
from tailor.data.settings import GROUP_PATTERN
from tailor.errors import Problem, RecipeError

KEYS_ENV = "TAILOR_API_KEYS"  # the keys file's content, for deployments that pass secrets by environment
KEY_PREFIX = "tk-"


@dataclass(frozen=True)
class ApiKey:
    id: str
    user: str
    groups: frozenset[str]
    models: frozenset[str] | None  # None: every served model
    sha256: str

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyStore:
    """The configured keys; :meth:`find` is the only way to resolve a presented key."""

    def __init__(self, keys: list[ApiKey]):
        self._keys = tuple(keys)

    def __len__(self) -> int:
        return len(self._keys)

    def find(self, presented: str) -> ApiKey | None:
        """The key whose hash matches ``presented``; every stored hash is compared, in constant time."""
        digest = hash_key(presented)
        found = None
        for key in self._keys:
            if hmac.compare_digest(key.sha256, digest):
                found = key
        return found


def load_keys(path: Path | None) -> KeyStore:
    """Keys from ``TAILOR_API_KEYS`` if set, else from the YAML file at ``path``.

    Raises:
        RecipeError: the file is missing, malformed (file, entry and field named) or holds no key.
    """
    text, source = os.environ.get(KEYS_ENV), Path(KEYS_ENV)
    if text is None:
        if path is None or not Path(path).is_file():
            raise RecipeError(
                Problem(f"no API keys: file not found (create one with `tailor keys add USER`, or set {KEYS_ENV})")
                if path is None
                else Problem("API keys file not found; create it with `tailor keys add USER --keys FILE`", file=path)
            )
        source = Path(path)
        text = source.read_text(encoding="utf-8")
    store = parse_keys(text, source)
    if not len(store):  # a server nobody may call: say so before any model is loaded
        raise RecipeError(Problem("holds no key; add one with `tailor keys add USER`", file=source, field="keys"))
    return store


def parse_keys(text: str, source: Path) -> KeyStore:
    """Keys from the YAML ``text`` of ``source`` (named in errors).

    Raises:
        RecipeError: malformed YAML, no ``keys:`` list, or a bad entry.
    """
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise RecipeError(
            Problem(f"not valid YAML ({getattr(e, 'problem', e)})", file=source, line=mark and mark.line + 1)
        ) from None
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise RecipeError(Problem("expected a top-level `keys:` list", file=source, field="keys"))
    keys, problems = [], []
    for i, entry in enumerate(entries):
        try:
            keys.append(_entry(entry))
        except ValueError as e:
            problems.append(Problem(str(e), file=source, field=f"keys[{i}]"))
    if problems:
        raise RecipeError(*problems)
    return KeyStore(keys)


def _entry(entry: object) -> ApiKey:
    if not isinstance(entry, dict):
        raise ValueError("each key is a mapping with user, groups and sha256")
    unknown = sorted(set(entry) - {"id", "user", "groups", "models", "sha256"})
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}")
    user, digest, groups = entry.get("user"), str(entry.get("sha256", "")), entry.get("groups", [])
    if not isinstance(user, str) or not user:
        raise ValueError("`user` must be a non-empty string")
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError("`sha256` must be 64 lowercase hex digits (the key's SHA-256; never the key itself)")
    if not isinstance(groups, list) or not all(isinstance(g, str) and _group_ok(g) for g in groups):
        raise ValueError("`groups` must be a list of group names (letters, digits, - and _)")
    models = entry.get("models")
    if models is not None and not (isinstance(models, list) and all(isinstance(m, str) for m in models)):
        raise ValueError("`models` must be a list of model names")
    key_id = str(entry.get("id") or f"k-{digest[:8]}")
    return ApiKey(key_id, user, frozenset(groups), None if models is None else frozenset(models), digest)


def _group_ok(group: str) -> bool:
    return re.fullmatch(GROUP_PATTERN, group) is not None


def add_key(path: Path, user: str, groups: list[str], models: list[str] | None = None) -> tuple[str, ApiKey]:
    """Create a key for ``user``, append its hash to the keys file at ``path``; return (key, entry).

    The key itself is returned once and stored nowhere.

    Raises:
        RecipeError: the existing file is malformed, or a group name is invalid.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.is_file() else "keys: []"
    parse_keys(text, path)  # refuse to append to a file that would not load
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    digest = hash_key(key)
    entry = {"id": f"k-{digest[:8]}", "user": user, "groups": list(groups), "sha256": digest}
    if models:
        entry["models"] = list(models)
    try:
        api_key = _entry(entry)
    except ValueError as e:
        raise RecipeError(Problem(str(e), field="--groups")) from None
    data = yaml.safe_load(text)
    data["keys"].append(entry)
    header = "# tailor API keys: SHA-256 hashes only. Add one with `tailor keys add USER --groups a,b`.\n"
    write_text_atomic(path, header + yaml.safe_dump(data, sort_keys=False))
    os.chmod(path, 0o600)
    return key, api_key
