"""``model: {kind: hf, path: ...}`` names a directory or a hub repo id, as transformers' ``model_name_or_path`` does.

A repo id is read from the local Hugging Face cache; it is downloaded only where downloads are allowed
(``HF_HUB_OFFLINE`` unset). Offline and not cached, the error says how to get it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tailor.errors import ModelError

# org/name, as the hub spells repo ids (no scheme, no leading dot or slash, exactly one slash)
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


def is_repo_id(path: str, local: Path) -> bool:
    """Whether the recipe's ``path`` names a hub repo rather than a directory (``local`` is it resolved)."""
    return not local.exists() and bool(REPO_ID.match(path))


def offline() -> bool:
    """Whether downloads from the hub are off (the variables transformers and huggingface_hub read)."""
    return any(
        os.environ.get(v, "").upper() in ("1", "ON", "YES", "TRUE") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def model_directory(recipe, path: str) -> Path:
    """The directory of the model ``path`` names: itself, or the cached (else downloaded) snapshot of a repo id.

    Raises:
        ModelError: neither a directory nor a repo id, or a repo id that is not cached while offline.
    """
    local = recipe.resolve(path)
    if local.exists():
        return local
    if not REPO_ID.match(path):
        raise ModelError(f"model directory not found: {local} (nor is {path!r} a hub repo id such as org/name)")
    from huggingface_hub import snapshot_download
    from huggingface_hub.constants import HF_HUB_CACHE

    cache = os.environ.get("HF_HUB_CACHE") or HF_HUB_CACHE
    try:
        return Path(snapshot_download(path, local_files_only=offline(), cache_dir=cache))
    except Exception as e:  # the hub client raises many kinds; each means "not here"
        if offline():
            raise ModelError(
                f"{path!r} is not in the Hugging Face cache ({cache}) and downloads are off (HF_HUB_OFFLINE=1): "
                f"download it where the hub is reachable (hf download {path}) or set path to its directory"
            ) from None
        raise ModelError(f"cannot fetch {path!r} from the hub ({e.__class__.__name__}: {e})") from None
