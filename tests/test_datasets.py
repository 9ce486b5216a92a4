"""Data sets: shipped ECG verified by its manifest; the data cache's fetch (HTTP on 127.0.0.1 only,
a local archive or folder) verifies every file, writes only manifest files, and is atomic; a
missing set names the command that fetches it."""
from __future__ import annotations

import hashlib
import http.server
import io
import json
import tarfile
import threading
import wave
from pathlib import Path

import numpy as np
import pytest

from zoo import datasets
from zoo.registry import ZooError


def _wav(seed: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes((np.random.default_rng(seed).normal(0, 3000, 800)).astype("<i2").tobytes())
    return buf.getvalue()


FILES = {f"recordings/{d}_george_{i}.wav": _wav(10 * d + i) for d in (0, 1) for i in (0, 7)}


@pytest.fixture
def mini_fsdd(tmp_path, monkeypatch):
    """The fsdd set with a 4-file manifest, an empty data cache in tmp_path/cache."""
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "ecg-qtdb.sha256").write_text((datasets.MANIFESTS / "ecg-qtdb.sha256").read_text())
    (manifests / "fsdd.sha256").write_text("".join(f"{hashlib.sha256(b).hexdigest()}  {rel}\n"
                                                   for rel, b in FILES.items()))
    monkeypatch.setattr(datasets, "MANIFESTS", manifests)
    datasets._read_manifest.cache_clear()
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "cache"))
    yield datasets.get_dataset("fsdd")
    datasets._read_manifest.cache_clear()


def _archive(path: Path, files: dict[str, bytes], extra: dict[str, bytes] | None = None, top: str = "fsdd-abc") -> Path:
    """A repository archive as the public source serves it: one top folder, then the tree."""
    with tarfile.open(path, "w:gz") as tar:
        for rel, data in {**files, **(extra or {})}.items():
            info = tarfile.TarInfo(f"{top}/{rel}" if not rel.startswith("/") and ".." not in rel else rel)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def http_dir(tmp_path):
    """Serve tmp_path/www on 127.0.0.1 (a thread, shut down after the test)."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _leftovers(cache: Path) -> list[str]:
    return [p.name for p in cache.iterdir() if p.name.startswith(".")] if cache.exists() else []


def test_ecg_ships_inside_the_package_and_verifies():
    ds = datasets.get_dataset("ecg-qtdb")
    assert ds.shipped and ds.present() and ds.verify() == []
    assert ds.root.is_relative_to(Path(datasets.__file__).parent)
    assert sum((ds.root / f).stat().st_size for f in ds.manifest()) == ds.size_bytes
    assert (ds.root / "LICENSE").is_file() and "ODC" in (ds.root / "LICENSE").read_text()


def test_missing_set_names_the_fetch_command(mini_fsdd):
    assert not mini_fsdd.present()
    with pytest.raises(ZooError, match=r"zoo data fetch fsdd"):
        mini_fsdd.require()


def test_fetch_over_http_verifies_and_writes_only_manifest_files(mini_fsdd, http_dir, tmp_path):
    www, url = http_dir
    _archive(www / "fsdd.tar.gz", FILES, extra={"README.md": b"readme", "recordings/extra.wav": b"x",
                                                "../evil.txt": b"escape"})
    root = mini_fsdd.fetch(source=f"{url}/fsdd.tar.gz")
    assert root == tmp_path / "cache" / "fsdd" and mini_fsdd.verify() == []
    written = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert written == sorted(FILES)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "cache" / "evil.txt").exists()
    assert _leftovers(tmp_path / "cache") == []
    assert mini_fsdd.fetch(source="/nonexistent.tar.gz") == root  # intact: nothing to do


@pytest.mark.parametrize("fault", ["corrupt", "missing", "truncated", "not-found"])
def test_failed_fetch_leaves_nothing(mini_fsdd, http_dir, tmp_path, fault):
    www, url = http_dir
    files = dict(FILES)
    if fault == "corrupt":
        files["recordings/1_george_7.wav"] = files["recordings/1_george_7.wav"][:-2] + b"\0\0"
    if fault == "missing":
        del files["recordings/0_george_0.wav"]
    path = _archive(www / "fsdd.tar.gz", files)
    if fault == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    src = f"{url}/{'absent' if fault == 'not-found' else 'fsdd'}.tar.gz"
    with pytest.raises(Exception) as info:
        mini_fsdd.fetch(source=src)
    assert type(info.value).__name__ in ("ZooError", "HubError"), info.value
    assert "\n" not in str(info.value)
    assert not (tmp_path / "cache" / "fsdd").exists() and _leftovers(tmp_path / "cache") == []


def test_cli_fetch_from_a_local_folder_list_and_verify(mini_fsdd, tmp_path, capsys):
    from zoo.cli import main

    src = tmp_path / "copy"
    for rel, data in FILES.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    assert main(["data", "verify", "fsdd"]) == 2
    assert "zoo data fetch fsdd" in capsys.readouterr().err
    assert main(["data", "fetch", "fsdd", "--from", str(src)]) == 0
    assert main(["data", "verify", "fsdd"]) == 0
    capsys.readouterr()
    assert main(["data", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["datasets"]}
    assert rows["fsdd"]["present"] and rows["fsdd"]["files"] == len(FILES) and rows["ecg-qtdb"]["where"] == "package"
    (tmp_path / "cache" / "fsdd" / "recordings" / "0_george_7.wav").write_bytes(b"tampered")
    assert main(["data", "verify", "fsdd"]) == 2
    assert "1 of 4 files missing or corrupt" in capsys.readouterr().err
