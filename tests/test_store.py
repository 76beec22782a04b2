"""ResumableTable: parts, resume, finalize, CSV flattening; DirectoryLock; atomic writes."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from yololens.errors import OutputLockedError
from yololens.store.atomic import atomic_path, write_json
from yololens.store.lock import DirectoryLock
from yololens.objects import Objects, ObjectSchema
from yololens.store.table import ResumableTable, read_table


def _table(images: list[str], start: int = 0) -> pa.Table:
    objs = Objects.empty(len(images))
    objs.image, objs.image_index = list(images), np.arange(start, start + len(images))
    objs.object[:] = 0
    objs.boxes[:, 0] = 1.0
    objs.class_name = ["car"] * len(images)
    objs.attributes = {"weather": ["clear" if (start + i) % 2 else None for i in range(len(images))]}
    objs.embeddings = {"emb_L9": np.arange(3, dtype=np.float32) + np.arange(start, start + len(images))[:, None]}
    return objs.to_table(ObjectSchema({"emb_L9": 3}))


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
        assert (tmp_path / ".yololens.lock").read_text() == f"pid {os.getpid()}"
    assert not (tmp_path / ".yololens.lock").exists()  # a finished run leaves no lock file


def test_lock_whose_file_was_replaced_is_not_held(tmp_path):
    """A run that opened the lock file just before its holder removed it must not believe it holds the folder:
    it checks that the path still names the file it locked."""
    lock = DirectoryLock(tmp_path)
    lock._acquire()
    assert lock._still_ours()
    (tmp_path / ".yololens.lock").unlink()
    assert not lock._still_ours()
    (tmp_path / ".yololens.lock").write_text("")
    assert not lock._still_ours()
    lock._release(unlink=False)
    with DirectoryLock(tmp_path) as again:
        assert again._still_ours()


def test_atomic_path_leaves_old_file_on_error(tmp_path):
    target = tmp_path / "m.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text().strip().startswith("{") and '"v": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_objects_null_embeddings_and_mixed_attributes():
    objs = Objects.empty(2)
    objs.image, objs.origin = ["a", "a"], ["gt", "pred"]
    objs.attributes = {"occluded": [True, "yes"]}
    objs.embeddings = {"emb_coef": np.array([[0, 0], [1, 2]], np.float32)}
    objs.missing = {"emb_coef": np.array([True, False])}
    table = objs.to_table(ObjectSchema({"emb_coef": 2}))
    assert table.column("emb_coef").to_pylist() == [None, [1.0, 2.0]]
    assert table.column("attr_occluded").to_pylist() == ["True", "yes"]
    assert table.column("class_id").to_pylist() == [None, None] and table.column("score").null_count == 2


def test_objects_index_concat_and_schema():
    """Indexing and concatenation keep every column aligned; a column one batch lacks is null there."""
    a, b = Objects.empty(2), Objects.empty(1)
    a.image, b.image = ["x", "x"], ["y"]
    a.boxes[:] = [[0, 0, 2, 3], [1, 1, 2, 2]]
    a.embeddings = {"emb_L9": np.ones((2, 3), np.float32)}
    b.attributes = {"weather": ["rain"]}
    both = Objects.concat([a, b])
    assert len(both) == 3 and both.image == ["x", "x", "y"]
    assert both.missing_rows("emb_L9").tolist() == [False, False, True]
    assert both.attributes == {"weather": [None, None, "rain"]}
    assert both.box_area.tolist() == [6.0, 1.0, 0.0]
    picked = both[np.array([2, 0])]
    assert picked.image == ["y", "x"] and picked.boxes[1].tolist() == [0, 0, 2, 3]
    table = both.to_table(ObjectSchema({"emb_L9": 3}, ("video",)))
    assert table.column_names[:6] == ["image", "image_index", "image_w", "image_h", "object", "object_id"]
    assert table.column_names[-3:] == ["video", "attr_weather", "emb_L9"]
    assert table.schema.field("emb_L9").type == pa.list_(pa.float32(), 3)
    assert table.column("emb_L9").to_pylist() == [[1.0] * 3, [1.0] * 3, None]
    assert table.column("object_id").to_pylist() == ["x#0", "x#1", "y#0"]


def test_atomic_outputs_get_umask_permissions(tmp_path):
    import os

    from yololens.store import atomic

    write_json(tmp_path / "p.json", {})
    assert (tmp_path / "p.json").stat().st_mode & 0o777 == 0o666 & ~atomic._UMASK
    assert os.access(tmp_path / "p.json", os.R_OK)


def test_objects_from_arrow_round_trip():
    """The table read back is the same batch: writing it again gives the same table."""
    objs = Objects.empty(3)
    objs.image, objs.image_index = ["a", "a", "b"], np.array([0, 0, 1])
    objs.origin, objs.status = ["gt", "pred", "pred"], [None, "FP", None]
    objs.class_id[:] = [-1, 2, 3]
    objs.score[1:] = [0.5, 0.25]
    objs.frame_index[:] = [-1, 4, 4]
    objs.attributes = {"weather": ["clear", None, "rain"]}
    objs.embeddings = {"emb_L9": np.eye(3, dtype=np.float32)}
    objs.missing = {"emb_L9": np.array([False, True, False])}
    schema = ObjectSchema({"emb_L9": 3}, ("video", "frame_index"), {"attr_weather": pa.string()})
    table = objs.to_table(schema)
    back = Objects.from_arrow(table)
    assert back.to_table(schema).equals(table)
    assert back.origin == ["gt", "pred", "pred"] and back.class_id.tolist() == [-1, 2, 3]
    assert back.missing_rows("emb_L9").tolist() == [False, True, False]
