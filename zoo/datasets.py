"""Data sets: where they live, their licence, and verified, atomic fetching.

Small redistributable sets ship inside the package (``zoo/data/NAME/``). Larger ones live in the
data cache (:func:`data_dir`: ``$ZOO_DATA_DIR``, default ``~/.cache/lava-nir-zoo/data``), in
``<cache>/NAME/``, filled by ``zoo data fetch NAME`` from the public source. Every file of a set is
listed with its SHA-256 in ``zoo/data/manifests/NAME.sha256`` (``sha256sum`` format, paths relative
to the set's folder); a fetch verifies each file and moves the finished folder into place in one
rename, so the cache never shows a half-written set.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from zoo.registries import Registry
from zoo.registry import ZooError

PACKAGE_DATA = Path(__file__).resolve().parent / "data"
MANIFESTS = PACKAGE_DATA / "manifests"


def data_dir() -> Path:
    """The data cache: ``$ZOO_DATA_DIR``, default ``~/.cache/lava-nir-zoo/data``."""
    env = os.environ.get("ZOO_DATA_DIR")
    return Path(env).expanduser() if env else Path("~/.cache/lava-nir-zoo/data").expanduser()


@dataclass(frozen=True)
class DataSet:
    """One data set: its files (by manifest), licence, and where it comes from."""

    name: str
    description: str
    licence: str
    citation: str
    size_bytes: int  # on disk, all manifest files
    shipped: bool  # inside the package (zoo/data/NAME) rather than the cache
    source: str | None = None  # public archive (tar.gz) holding the files
    archive_dir: str = ""  # folder inside the archive (below its top folder) that maps to the set's folder

    @property
    def root(self) -> Path:
        """The set's folder: in the package when shipped, else ``<data cache>/NAME``."""
        return PACKAGE_DATA / self.name if self.shipped else data_dir() / self.name

    def manifest(self) -> dict[str, str]:
        """``{relative path: sha256}`` from ``zoo/data/manifests/NAME.sha256``."""
        return _read_manifest(self.name)

    def present(self) -> bool:
        """Every manifest file exists (hashes are checked by :meth:`verify` and on fetch)."""
        root = self.root
        return all((root / rel).is_file() for rel in self.manifest())

    def require(self) -> Path:
        """The set's folder, or one :class:`ZooError` line saying which command fetches it."""
        if not self.present():
            raise ZooError(f"data set {self.name!r} is not in the data cache {self.root.parent} "
                           f"(set ZOO_DATA_DIR, or fetch it: zoo data fetch {self.name})")
        return self.root

    def verify(self) -> list[str]:
        """Files missing or with a wrong SHA-256 (empty when the set is intact)."""
        return [rel for rel, sha in self.manifest().items()
                if not (self.root / rel).is_file() or _sha256(self.root / rel) != sha]

    def fetch(self, source: str | None = None, progress: bool = False) -> Path:
        """Fill ``<cache>/NAME`` from ``source`` (default: the public archive): a ``.tar.gz`` URL
        or path, or a local folder holding the files. Each file is verified against the
        manifest; the folder appears in one rename. Returns the set's folder."""
        if self.shipped:
            return self.root
        manifest = self.manifest()
        if self.present() and not self.verify():
            return self.root
        src = source or self.source
        if src is None:
            raise ZooError(f"data set {self.name!r} has no public source; pass --from ARCHIVE_OR_FOLDER")
        cache = data_dir()
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ZooError(f"data cache {cache}: cannot create ({e.strerror or e})") from None
        work = Path(tempfile.mkdtemp(prefix=f".{self.name}.", suffix=".partial", dir=cache))
        try:
            staged = work / self.name
            staged.mkdir()
            if Path(src).is_dir():
                _copy_verified(Path(src), staged, manifest)
            else:
                archive = _local_archive(src, work, progress)
                _extract_verified(archive, staged, manifest, self.archive_dir, src)
            missing = [rel for rel in manifest if not (staged / rel).is_file()]
            if missing:
                raise ZooError(f"data set {self.name!r}: {len(missing)} of {len(manifest)} files not found in "
                               f"{src} (first: {missing[0]})")
            final = self.root
            if final.exists():  # an incomplete or corrupt earlier copy: replace it whole
                old = work / "old"
                os.replace(final, old)
            os.replace(staged, final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return final


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


@lru_cache(maxsize=None)
def _read_manifest(name: str) -> dict[str, str]:
    path = MANIFESTS / f"{name}.sha256"
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            sha, rel = line.split(maxsplit=1)
            out[rel.strip().lstrip("*")] = sha.lower()
    return out


def _local_archive(src: str, work: Path, progress: bool) -> Path:
    if "://" not in src:
        if not Path(src).is_file():
            raise ZooError(f"data source {src} not found")
        return Path(src)
    from zoo.hub import download

    return download(src, work / "archive.tar.gz", progress=progress)


def _check_member(rel: str, data: bytes, sha: str, origin: str) -> None:
    got = hashlib.sha256(data).hexdigest()
    if got != sha:
        raise ZooError(f"{origin}: {rel}: sha256 mismatch (expected {sha}, got {got})")


def _write(dst: Path, data: bytes) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(data)


def _copy_verified(src: Path, staged: Path, manifest: dict[str, str]) -> None:
    for rel, sha in manifest.items():
        f = src / rel
        if f.is_file():
            data = f.read_bytes()
            _check_member(rel, data, sha, str(src))
            _write(staged / rel, data)


def _extract_verified(archive: Path, staged: Path, manifest: dict[str, str], archive_dir: str, origin: str) -> None:
    """Extract only the manifest's files (regular members, matched by their path below the
    archive's top folder and ``archive_dir``): nothing else in the archive is written."""
    prefix = archive_dir.strip("/") + "/" if archive_dir else ""
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                parts = member.name.split("/", 1)
                rel = parts[1] if len(parts) == 2 else parts[0]
                if not rel.startswith(prefix) or rel[len(prefix):] not in manifest:
                    continue
                rel = rel[len(prefix):]
                f = tar.extractfile(member)
                data = f.read() if f is not None else b""
                _check_member(rel, data, manifest[rel], origin)
                _write(staged / rel, data)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ZooError(f"{origin}: not a readable tar archive ({e})") from None


DATASETS: Registry[DataSet] = Registry("data set", ZooError, see="see `zoo data list`")


def register_dataset(ds: DataSet) -> DataSet:
    return DATASETS.register(ds.name, ds)


def get_dataset(name: str) -> DataSet:
    return DATASETS.get(name)


register_dataset(DataSet(
    name="ecg-qtdb",
    description="ECG wave classification per time step (QTDB, preprocessed as in Yin et al. 2021)",
    licence="ODC-By 1.0 (PhysioNet QTDB); preprocessed files MIT (brf-neurons)",
    citation="Laguna et al., QT Database, Computers in Cardiology 1997; Yin, Corradi, Bohte 2021",
    size_bytes=649_982,
    shipped=True,
))

FSDD_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"
register_dataset(DataSet(
    name="fsdd",
    description="Free Spoken Digit Dataset: 3,000 recordings of 0-9, 6 speakers, 8 kHz mono WAV",
    licence="CC BY-SA 4.0",
    citation="Z. Jackson et al., Free Spoken Digit Dataset, Zenodo doi:10.5281/zenodo.1342401",
    size_bytes=21_128_848,
    shipped=False,
    source=f"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/{FSDD_COMMIT}.tar.gz",
    archive_dir="",
))
