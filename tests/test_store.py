"""ResumableTable: parts, resume, finalize, CSV flattening; DirectoryLock; atomic writes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from yololens.errors import OutputLockedError
from yololens.store.atomic import atomic_path, write_json
from yololens.store.lock import DirectoryLock
from yololens.store.objects import ObjectRows
from yololens.store.table import ResumableTable, read_table


def _table(images: list[str], start: int = 0) -> pa.Table:
    rows = ObjectRows({"emb_L9": 3})
    for i, name in enumerate(images):
        rows.add({"image": name, "image_index": start + i, "object": 0, "x1": 1.0, "class_name": "car"},
                 {"weather": "clear"} if (start + i) % 2 else {}, {"emb_L9": np.arange(3, dtype=np.float32) + start + i})
    return rows.to_table()


def test_parts_resume_and_finalize_equal_one_run(tmp_path):
    images = [f"im{i}.jpg" for i in range(6)]
    one = ResumableTable(tmp_path / "a" / "objects.parquet", "image")
    one.write_part(_table(images), images, 0)
    one.finalize()
    # Same rows written in two runs: part 2 first (order must come from `order`, not write time).
    two = ResumableTable(tmp_path / "b" / "objects.parquet", "image")
    two.write_part(_table(images[3:], 3), images[3:] + ["empty.jpg"], 3)
    assert two.done_keys() == set(images[3:]) | {"empty.jpg"}
    two2 = ResumableTable(tmp_path / "b" / "objects.parquet", "image")
    two2.write_part(_table(images[:3]), images[:3], 0)
    two2.finalize()
    a, b = pq.read_table(one.path), pq.read_table(two2.path)
    assert a.equals(b)
    assert a.column("attr_weather").to_pylist() == [None, "clear", None, "clear", None, "clear"]
    assert b.column("attr_weather").to_pylist() == [None, "clear", None, "clear", None, "clear"]
    assert not two2.parts_dir.exists()
    # After finalize the done set comes from the final file, images without rows included.
    assert ResumableTable(two2.path, "image").done_keys() == set(images) | {"empty.jpg"}


def test_finalize_merges_previous_final(tmp_path):
    t = ResumableTable(tmp_path / "objects.parquet", "image")
    t.write_part(_table(["a.jpg"]), ["a.jpg"], 0)
    t.finalize()
    t.write_part(_table(["b.jpg"], 1), ["b.jpg"], 1)
    t.finalize()
    assert pq.read_table(t.path).column("image").to_pylist() == ["a.jpg", "b.jpg"]


def test_csv_flattens_fixed_size_lists(tmp_path):
    t = ResumableTable(tmp_path / "rows.csv", "image")
    t.write_part(_table(["a.jpg", "b.jpg"]), ["a.jpg", "b.jpg"], 0)
    t.finalize()
    csv = read_table(t.path)
    assert [c for c in csv.column_names if c.startswith("emb_L9")] == ["emb_L9_0", "emb_L9_1", "emb_L9_2"]
    assert csv.column("emb_L9_2").to_pylist() == [2.0, 3.0]
    assert ResumableTable(t.path, "image").done_keys() == {"a.jpg", "b.jpg"}


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown table format"):
        ResumableTable(tmp_path / "x.xlsx", "image")


def test_lock_refuses_second_holder(tmp_path):
    with DirectoryLock(tmp_path):
        with pytest.raises(OutputLockedError, match="in use by pid"):
            with DirectoryLock(tmp_path):
                pass
    with DirectoryLock(tmp_path):  # released
        pass


def test_atomic_path_leaves_old_file_on_error(tmp_path):
    target = tmp_path / "m.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text().strip().startswith("{") and '"v": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_object_rows_null_embeddings_and_mixed_attributes():
    rows = ObjectRows({"emb_coef": 2})
    rows.add({"image": "a", "origin": "gt"}, {"occluded": True}, {})
    rows.add({"image": "a", "origin": "pred"}, {"occluded": "yes"}, {"emb_coef": np.array([1, 2], np.float32)})
    table = rows.to_table()
    assert table.column("emb_coef").to_pylist() == [None, [1.0, 2.0]]
    assert table.column("attr_occluded").to_pylist() == ["True", "yes"]


def test_atomic_outputs_get_umask_permissions(tmp_path):
    import os

    from yololens.store import atomic

    write_json(tmp_path / "p.json", {})
    assert (tmp_path / "p.json").stat().st_mode & 0o777 == 0o666 & ~atomic._UMASK
    assert os.access(tmp_path / "p.json", os.R_OK)
