"""The packaged models: GGUF files that PyPI distributions carry, found (or assembled from parts) offline.

The table of them is ``packaged.yaml`` beside this module. A model shipped whole is the ``.gguf`` file
inside its distribution; a model split across several distributions (each holding ``data/partNN.bin``)
is concatenated once, in order, into tailor's cache, checked against the pinned sha256 as it is written,
and renamed into place only when it matches. The distributions' own code is never imported: only their
installed files are read, through ``importlib.metadata``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

import yaml

from tailor.errors import ModelError


@dataclass(frozen=True)
class Packaged:
    """One packaged model: where its GGUF file comes from and how to install it."""

    name: str
    title: str
    short: str  # its name in a models: ladder
    license: str
    version: str  # every distribution of the model at this exact version
    distributions: tuple[str, ...]
    install: str  # the exact command that installs it
    note: str = ""
    file: str | None = None  # a model shipped whole: the file's name pattern inside its one distribution
    sha256: str | None = None  # a model in parts: the assembled file's digest
    bytes: int | None = None  # and its size

    @property
    def in_parts(self) -> bool:
        return self.file is None


def cache_root() -> Path:
    """Where tailor keeps models it makes once (assembled, converted): ``$TAILOR_CACHE`` or ``~/.cache/tailor``."""
    return Path(os.environ.get("TAILOR_CACHE") or Path.home() / ".cache" / "tailor")


@cache
def catalog() -> dict[str, Packaged]:
    """Every packaged model tailor knows, by recipe name, in ladder order (smallest first)."""
    table = yaml.safe_load(files("tailor.models").joinpath("packaged.yaml").read_text(encoding="utf-8"))
    return {
        name: Packaged(name=name, **{**entry, "distributions": tuple(entry["distributions"])})
        for name, entry in table.items()
    }


def installed(spec: Packaged) -> bool:
    """Whether every distribution of ``spec`` is installed at its pinned version."""
    try:
        return all(md.version(d) == spec.version for d in spec.distributions)
    except md.PackageNotFoundError:
        return False


def installed_models() -> list[str]:
    """The packaged models installed here, smallest first."""
    return [name for name, spec in catalog().items() if installed(spec)]


def gguf_file(spec: Packaged, log: Callable[[str], None] = lambda _: None) -> Path:
    """The GGUF file of ``spec``: inside its distribution, or assembled from its parts (once, cached).

    Raises:
        ModelError: a distribution is missing or at another version, a part is missing, or the assembled
            file's digest is not the pinned one; each says the command that fixes it.
    """
    if not spec.in_parts:
        dist = _distribution(spec, spec.distributions[0])
        found = [f for f in dist.files or () if Path(str(f)).match(spec.file or "*.gguf")]
        if not found:
            raise ModelError(f"{dist.name} holds no {spec.file} file; reinstall it: {spec.install} --force-reinstall")
        return Path(str(dist.locate_file(found[0])))
    target = cache_root() / "packaged" / f"{spec.name}-{(spec.sha256 or '')[:16]}.gguf"
    if target.is_file() and target.stat().st_size == spec.bytes:
        return target
    parts = [_part(spec, i, d) for i, d in enumerate(spec.distributions, start=1)]
    log(f"model: assembling {spec.title} from {len(parts)} installed parts (once): {target}")
    _assemble(spec, parts, target)
    return target


def _distribution(spec: Packaged, name: str) -> md.Distribution:
    try:
        dist = md.distribution(name)
    except md.PackageNotFoundError:
        raise ModelError(
            f"the packaged model {spec.name!r} is not installed ({name} is missing); run: {spec.install}"
        ) from None
    if dist.version != spec.version:
        raise ModelError(
            f"the packaged model {spec.name!r} needs {name}=={spec.version}, but {dist.version} is installed; "
            f"run: {spec.install}"
        )
    return dist


def _part(spec: Packaged, index: int, dist_name: str) -> Path:
    """The installed file of part ``index`` (1-based): ``data/partNN.bin`` in distribution ``dist_name``."""
    dist = _distribution(spec, dist_name)
    wanted = f"part{index:02d}.bin"
    found = [f for f in dist.files or () if Path(str(f)).name == wanted and Path(str(f)).parent.name == "data"]
    path = Path(str(dist.locate_file(found[0]))) if found else None
    if path is None or not path.is_file():
        raise ModelError(f"{dist_name} holds no data/{wanted}; reinstall it: {spec.install} --force-reinstall")
    return path


def _assemble(spec: Packaged, parts: list[Path], target: Path) -> None:
    """Concatenate ``parts`` into ``target`` atomically, hashing as it writes; a digest that is not the
    pinned one leaves nothing behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    for block in iter(lambda f=f: f.read(1 << 22), b""):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != spec.sha256:
            raise ModelError(
                f"the packaged model {spec.name!r} assembled to sha256 {digest.hexdigest()[:16]}…, not the pinned "
                f"{(spec.sha256 or '')[:16]}…: a part is damaged or of another release; run: {spec.install} "
                "--force-reinstall"
            )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
