"""Packaged models: the table, and a model split across installed distributions assembled into the file it
was split from. The distributions are real ones, installed into a folder on sys.path (a dist-info with
METADATA and RECORD, as pip writes them), holding parts of the real packaged SmolLM2 GGUF file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tailor.config import Recipe
from tailor.errors import ModelError, RecipeError
from tailor.models.gguf import packaged_gguf
from tailor.models.packaged import Packaged, catalog, gguf_file, installed, installed_models
from tailor.models.settings import PackagedModel


def _install(site: Path, dist: str, version: str, files: dict[str, bytes]) -> None:
    """A distribution ``dist`` at ``version`` in ``site``, as an installer leaves it: its files and a dist-info."""
    package = dist.replace("-", "_")
    info = site / f"{package}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    record = []
    for rel, data in files.items():
        path = site / package / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        record.append(f"{package}/{rel},,{len(data)}")
    (info / "RECORD").write_text("\n".join([*record, f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]) + "\n")


@pytest.fixture
def split_model(tmp_path, monkeypatch) -> tuple[Packaged, Path]:
    """The real SmolLM2 GGUF file split into three installed distributions, and the file itself."""
    whole = packaged_gguf("smollm2-135m-instruct")
    data = whole.read_bytes()
    site = tmp_path / "site"
    third = len(data) // 3
    pieces = [data[:third], data[third : 2 * third], data[2 * third :]]
    dists = tuple(f"tailor-test-part{i}" for i in (1, 2, 3))
    for i, (dist, piece) in enumerate(zip(dists, pieces, strict=True), 1):
        _install(site, dist, "0.1.0", {f"data/part{i:02d}.bin": piece, "__init__.py": b""})
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("TAILOR_CACHE", str(tmp_path / "cache"))
    spec = Packaged(
        name="test-split",
        title="SmolLM2 in three parts",
        short="split",
        license="Apache-2.0",
        version="0.1.0",
        distributions=dists,
        install="pip install tailor-test-part1==0.1.0 tailor-test-part2==0.1.0 tailor-test-part3==0.1.0",
        sha256=hashlib.sha256(data).hexdigest(),
        bytes=len(data),
    )
    return spec, whole


def test_the_table_pins_every_model_and_says_how_to_install_it():
    table = catalog()
    assert list(table) == ["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"]
    for spec in table.values():
        assert spec.install.startswith("pip install") and spec.license == "Apache-2.0"
        assert spec.in_parts == (spec.sha256 is not None) == (spec.bytes is not None)
    assert installed(table["smollm2-135m-instruct"])  # installed with tailor itself
    assert installed_models()[0] == "smollm2-135m-instruct"


def test_a_split_model_is_assembled_once_into_the_file_it_was_split_from(split_model):
    spec, whole = split_model
    said: list[str] = []
    assembled = gguf_file(spec, said.append)
    assert assembled.read_bytes() == whole.read_bytes()
    assert said and "from 3 installed parts" in said[0]
    assert list(assembled.parent.iterdir()) == [assembled]  # no temporary file left behind
    stamp = assembled.stat().st_mtime_ns
    again: list[str] = []
    assert gguf_file(spec, again.append) == assembled and again == []  # cached: not assembled twice
    assert assembled.stat().st_mtime_ns == stamp


def test_parts_that_do_not_hash_to_the_pinned_digest_are_refused_and_leave_nothing(split_model):
    spec, _ = split_model
    wrong = Packaged(**{**spec.__dict__, "sha256": "0" * 64})
    with pytest.raises(ModelError, match=r"assembled to sha256 .* not the pinned 0000000000000000") as e:
        gguf_file(wrong)
    assert "--force-reinstall" in str(e.value)
    cache = Path(os.environ["TAILOR_CACHE"]) / "packaged"
    assert list(cache.iterdir()) == []


def test_a_missing_or_other_release_of_a_part_says_the_install_command(split_model):
    spec, _ = split_model
    missing = Packaged(**{**spec.__dict__, "distributions": (*spec.distributions, "tailor-test-part4")})
    with pytest.raises(ModelError, match=r"not installed \(tailor-test-part4 is missing\); run: pip install"):
        gguf_file(missing)
    other = Packaged(**{**spec.__dict__, "version": "0.2.0"})
    with pytest.raises(ModelError, match=r"needs tailor-test-part1==0.2.0, but 0.1.0 is installed; run: pip install"):
        gguf_file(other)
    assert not installed(other) and installed(spec)


def test_an_unknown_packaged_name_is_a_recipe_error_listing_the_known_ones():
    with pytest.raises(ValueError, match="unknown packaged model 'qwen-7b'; choose from smollm2-135m-instruct"):
        PackagedModel(name="qwen-7b")
    with pytest.raises(ModelError, match="unknown packaged model"):
        packaged_gguf("qwen-7b")
    with pytest.raises((ValueError, RecipeError)):
        Recipe.model_validate({"data": {"examples": [{"path": "x.jsonl"}]}, "model": {"name": "qwen-7b"}})


@pytest.mark.slow
@pytest.mark.skipif(
    not installed(catalog()["qwen2.5-coder-0.5b-instruct"]), reason="pip install 'llm-tailor[qwen-0.5b]'"
)
def test_the_packaged_ladder_assembles_to_its_pinned_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TAILOR_CACHE", str(tmp_path))
    path = packaged_gguf("qwen2.5-coder-0.5b-instruct")
    assert path.stat().st_size == catalog()["qwen2.5-coder-0.5b-instruct"].bytes
    assert path.read_bytes()[:4] == b"GGUF"
