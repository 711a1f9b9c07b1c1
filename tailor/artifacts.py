"""Files tailor writes: always atomically (temp file + rename), always stamped with ``tailor_version``.

An interrupted run leaves either the previous file or the new one, never half of one. Loading an
artifact written by another tailor version keeps the keys it knows and warns about the rest.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tailor.errors import ArtifactError
from tailor.version import __version__


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` so that readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same directory, so the rename is atomic; opened with "x" (not mkstemp) so the umask applies.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def replace_dir(staging: Path, target: Path) -> Path:
    """Put the complete directory ``staging`` at ``target`` with renames: a reader sees the old directory
    or the new one (between the two renames, none; never a partial one)."""
    old = target.with_name(target.name + ".old")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def write_json_atomic(path: Path, data: dict[str, Any]) -> Path:
    """Write a JSON artifact stamped with ``tailor_version`` (added first if absent)."""
    stamped = {"tailor_version": __version__, **data}
    return write_text_atomic(path, json.dumps(stamped, indent=2, ensure_ascii=False) + "\n")


def write_jsonl_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    """Write one JSON object per line, atomically."""
    return write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_json_artifact(path: Path, known_keys: Iterable[str], what: str) -> dict[str, Any]:
    """Read a JSON artifact, keeping ``known_keys`` and warning about any others.

    Raises:
        ArtifactError: the file is missing or is not a JSON object.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: {what} not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArtifactError(f"{path}: {what} is not valid JSON ({e}); delete it and run the step again") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: {what} must be a JSON object; delete it and run the step again")
    known = set(known_keys) | {"tailor_version"}
    unknown = sorted(set(data) - known)
    if unknown:
        warnings.warn(
            f"{path}: ignoring keys {unknown} written by tailor {data.get('tailor_version', '?')}",
            stacklevel=2,
        )
    return {k: v for k, v in data.items() if k in known}
