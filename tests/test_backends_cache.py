"""The export cache: location, keys, atomic install, corrupt and stale entries (no OpenVINO needed)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from yololens.engine.backends import cache


def _build(calls: list, payload: bytes = b"weights"):
    def build(folder: Path) -> list[str]:
        calls.append(folder)
        (folder / "model.xml").write_text("<xml/>")
        (folder / "model.bin").write_bytes(payload)
        return ["model.xml", "model.bin"]

    return build


FIELDS = {"model": "abc", "layers": [9, 15], "imgsz": [320, 320], "openvino": "2026.4"}


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("YOLOLENS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cache_root_respects_env_then_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("YOLOLENS_CACHE", str(tmp_path / "a"))
    assert cache.cache_root() == tmp_path / "a"
    monkeypatch.delenv("YOLOLENS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == tmp_path / "xdg" / "yololens"


def test_key_depends_on_every_field():
    base = cache.cache_key(FIELDS)
    for k, v in (("model", "abd"), ("layers", [9]), ("imgsz", [640, 640]), ("openvino", "2025.0")):
        assert cache.cache_key({**FIELDS, k: v}) != base
    assert cache.cache_key(dict(reversed(list(FIELDS.items())))) == base


def test_entry_built_once_then_reused(root, capsys):
    calls: list = []
    first = cache.cached_entry(FIELDS, _build(calls))
    assert capsys.readouterr().err == f"{first}: building the export (once; later runs reuse it)\n"
    second = cache.cached_entry(FIELDS, _build(calls))
    assert capsys.readouterr().err == ""
    assert first == second and first.parent == root and len(calls) == 1
    assert (first / "model.bin").read_bytes() == b"weights"
    assert calls[0] != first  # built in a temp folder, renamed into place
    assert sorted(p.name for p in root.iterdir()) == [first.name]  # no temp folder left


@pytest.mark.reliability
@pytest.mark.parametrize("damage", ["truncate_bin", "delete_bin", "garble_meta", "delete_meta", "stale_meta"])
def test_corrupt_or_stale_entry_is_rebuilt_with_one_line(root, capsys, damage):
    calls: list = []
    folder = cache.cached_entry(FIELDS, _build(calls))
    capsys.readouterr()  # the first build's line
    if damage == "truncate_bin":
        (folder / "model.bin").write_bytes(b"wei")
    elif damage == "delete_bin":
        (folder / "model.bin").unlink()
    elif damage == "garble_meta":
        (folder / "meta.json").write_text("{not json")
    elif damage == "delete_meta":
        (folder / "meta.json").unlink()
    else:
        meta = json.loads((folder / "meta.json").read_text())
        meta["key"]["openvino"] = "2024.0"
        (folder / "meta.json").write_text(json.dumps(meta))
    assert cache.check_entry(folder, FIELDS) is not None
    again = cache.cached_entry(FIELDS, _build(calls))
    assert again == folder and len(calls) == 2
    assert cache.check_entry(folder, FIELDS) is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(folder) in err[0] and "rebuilding" in err[0]


@pytest.mark.reliability
def test_failed_build_leaves_nothing(root):
    def broken(folder: Path) -> list[str]:
        (folder / "model.xml").write_text("<half")
        raise RuntimeError("export failed")

    with pytest.raises(RuntimeError):
        cache.cached_entry(FIELDS, broken)
    assert list(root.iterdir()) == []


@pytest.mark.reliability
def test_concurrent_builders_install_one_whole_entry(root):
    calls: list = []
    gate = threading.Barrier(4)

    def slow_build(folder: Path) -> list[str]:
        gate.wait()  # all four build at once; each renames its own temp folder
        return _build(calls)(folder)

    results: list = []
    threads = [threading.Thread(target=lambda: results.append(cache.cached_entry(FIELDS, slow_build)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(calls) == 4
    assert cache.check_entry(results[0], FIELDS) is None
    assert [p.name for p in root.iterdir()] == [results[0].name]


@pytest.mark.reliability
def test_temp_folders_of_a_killed_export_are_removed(root):
    import os
    import time

    root.mkdir(parents=True)
    old, young = root / ".tmp-abc-killed", root / ".tmp-def-live"
    for path in (old, young):
        path.mkdir()
        (path / "model.bin").write_bytes(b"half")
    an_hour_ago = time.time() - cache.STALE_TEMP_S - 10
    os.utime(old, (an_hour_ago, an_hour_ago))
    folder = cache.cached_entry(FIELDS, _build([]))
    assert sorted(p.name for p in root.iterdir()) == sorted([folder.name, young.name])


def _dated(path: Path, t: float) -> None:
    import os

    os.utime(path, (t, t))


def test_the_cache_is_bounded_least_recently_used_first(root, monkeypatch):
    # four entries of ~1 MB and two compiled blobs, under a 3.5 MB bound: building the fourth entry removes what
    # was used longest ago (an entry used again counts as new), never the entry just built
    monkeypatch.setenv(cache.CACHE_MAX_ENV, "3.5")
    mb = b"x" * (1 << 20)
    entries = {}
    for i, name in enumerate("abc"):
        entries[name] = cache.cached_entry({**FIELDS, "model": name}, _build([], mb))
        _dated(entries[name] / cache.META, 1000.0 + i)  # a used first, c last
    compiled = root / cache.COMPILED
    compiled.mkdir()
    (compiled / "old.blob").write_bytes(b"y" * (1 << 19))
    _dated(compiled / "old.blob", 500.0)  # older than every entry
    assert cache.cached_entry({**FIELDS, "model": "a"}, _build([], mb)) == entries["a"]  # a hit: a is now newest
    d = cache.cached_entry({**FIELDS, "model": "d"}, _build([], mb))
    left = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))
    assert not (compiled / "old.blob").exists() and not entries["b"].exists()
    assert entries["a"].is_dir() and entries["c"].is_dir() and d.is_dir()
    assert sorted(left) == sorted([cache.COMPILED, entries["a"].name, entries["c"].name, d.name])
    total = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    assert total <= 3.5 * (1 << 20)


def test_the_bound_can_be_lifted_and_a_bad_value_is_one_line(root, monkeypatch, capsys):
    monkeypatch.setenv(cache.CACHE_MAX_ENV, "0")
    assert cache.cache_limit_bytes() is None
    monkeypatch.setenv(cache.CACHE_MAX_ENV, "lots")
    assert cache.cache_limit_bytes() == cache.DEFAULT_MAX_MB * (1 << 20)
    want = f"${cache.CACHE_MAX_ENV}='lots' is not a number of MB; using {cache.DEFAULT_MAX_MB}\n"
    assert capsys.readouterr().err == want
    assert cache.cache_limit_bytes() == cache.DEFAULT_MAX_MB * (1 << 20) and capsys.readouterr().err == ""  # once
    monkeypatch.delenv(cache.CACHE_MAX_ENV)
    assert cache.cache_limit_bytes() == cache.DEFAULT_MAX_MB * (1 << 20)
    # unbounded: nothing is removed however large the cache grows
    monkeypatch.setenv(cache.CACHE_MAX_ENV, "0")
    built = [cache.cached_entry({**FIELDS, "model": str(i)}, _build([], b"z" * (1 << 20))) for i in range(3)]
    assert all(b.is_dir() for b in built)
    assert sorted(cache.evict(root, 1, keep=built[0])) == sorted(built[1:])  # down to the kept entry alone
    assert built[0].is_dir() and not built[1].exists() and not built[2].exists()
