"""Issue #6, part 1: the bad-input corpus, through the CLI, for every command that reads images, labels or tables.

Every case: one precise line (file, reason, action), the run goes on where it can, ``manifest.json`` lists
every skip exactly once, and the exit code is the documented one (0 ok, 1 some inputs skipped, 2 fatal).
The corpus is built in tmp dirs by ``tests/reliability_corpus.py``; docs/RELIABILITY.md has the table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from reliability_corpus import (
    Case,
    build_bdd_corpus,
    build_coco_corpus,
    build_image_corpus,
    build_yolo_corpus,
)
from yololens.cli.app import app
from yololens.cli.common import EXIT_BUG, EXIT_FATAL, EXIT_OK, EXIT_SKIPPED

pytestmark = pytest.mark.reliability

FAST = ["--imgsz", "320", "--layers", "9", "--no-progress"]


def invoke(args: list[str]):
    res = CliRunner().invoke(app, [str(a) for a in args])
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res


def assert_fatal(res, *needles: str) -> None:
    """Exit 2 with exactly one line, ``error: ...``, naming every needle; never a traceback."""
    assert res.exit_code == EXIT_FATAL, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def skip_entries(manifest: dict) -> list[dict]:
    entries = manifest["skipped"]
    assert entries is not None, sorted(manifest)
    return entries


def assert_skips_match(entries: list[dict], cases: list[Case], output: str) -> None:
    """Every non-ok case exactly once (file, reason, action); nothing else; each one is in the CLI output."""
    bad = [c for c in cases if c.action != "ok"]
    for case in bad:
        hits = [e for e in entries if e["file"] == case.file or e["file"].endswith("/" + case.file)]
        assert len(hits) == 1, (case, entries)
        hit = hits[0]
        assert case.reason in hit["reason"] and hit["action"] == case.action, (case, hit)
        assert "\n" not in hit["reason"] and hit["file"] not in hit["reason"], hit  # one line, path not repeated
        assert f"{hit['file']}: {hit['reason']} ({hit['action']})" in output
    for case in cases:
        if case.action == "ok":
            assert not [e for e in entries if e["file"].endswith(case.file)], (case, entries)
    assert len(entries) == len(bad), entries


# ------------------------------------------------------------------------------------ images


@pytest.fixture(scope="module")
def image_corpus(tmp_path_factory, assets):
    root = tmp_path_factory.mktemp("corpus") / "imgs"
    return root, build_image_corpus(root, assets)


def test_extract_over_the_whole_image_corpus(image_corpus, det_weights, tmp_path):
    root, cases = image_corpus
    out = tmp_path / "out"
    res = invoke(["extract", "-m", det_weights, "-s", root, "-o", out, "--crops", *FAST])
    assert res.exit_code == EXIT_SKIPPED, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert_skips_match(manifest["skipped"], cases, res.output)

    ok = [c for c in cases if c.action == "ok"]
    counts = manifest["counts"]
    assert counts["images_processed"] == len(ok) and counts["skipped"] == len(cases) - len(ok)
    assert f"{len(ok)} images processed" in res.output and f"{counts['skipped']} skipped" in res.output
    table = pq.read_table(out / "objects.parquet").to_pandas()
    per_image = table.groupby("image").size().to_dict()
    for case in ok:
        if case.rows:
            assert per_image.get(case.file, 0) >= 1, (case, per_image)
    assert set(per_image) <= {c.file for c in ok}
    assert "one_pixel.png" not in per_image  # processed (not skipped), nothing found in one pixel
    assert {"one_pixel.png", "thin_1x8000.png", "tall_8000x2.png"} <= set(json.loads(
        pq.read_schema(out / "objects.parquet").metadata[b"yololens.done"]))  # done, so a rerun skips them

    # every row is sane: boxes inside the (oriented) image, finite embeddings, crops readable
    assert (table.x1 >= 0).all() and (table.y1 >= 0).all()
    assert (table.x2 <= table.image_w).all() and (table.y2 <= table.image_h).all()
    assert np.isfinite(np.stack(table.emb_L9.to_numpy())).all()
    for crop in table.crop.dropna():
        assert cv2.imread(str(out / crop)) is not None, crop
    sizes = table.groupby("image")[["image_w", "image_h"]].first()
    assert tuple(sizes.loc["huge_8000x6000.jpg"]) == (8000, 6000)
    for name in ("gray.png", "rgba.png", "deep16.png", "palette_gif.jpg", "exif6.jpg"):
        assert tuple(sizes.loc[name]) == (810, 1080), name  # exif6 is stored 1080x810, shown upright

    # odd-but-valid images see what the plain bus shows: same classes, boxes within a few pixels
    bus = table[table.image == "good_bus.jpg"].sort_values("x1")
    for name in ("gray.png", "rgba.png", "deep16.png", "exif6.jpg"):
        other = table[table.image == name].sort_values("x1")
        assert other.class_name.value_counts().get("bus") == 1, name
        b, o = bus[bus.class_name == "bus"].iloc[0], other[other.class_name == "bus"].iloc[0]
        assert np.allclose([b.x1, b.y1, b.x2, b.y2], [o.x1, o.y1, o.x2, o.y2], atol=25), (name, b, o)


def test_exif_rotation_matches_ultralytics(image_corpus):
    """Orientation 6 is applied exactly as ``ultralytics.utils.patches.imread`` applies it."""
    from ultralytics.utils.patches import imread

    from yololens.sources.images import decode_image, read_image_size

    path = image_corpus[0] / "exif6.jpg"
    raw = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    ours = decode_image(path)
    assert raw.shape == (810, 1080, 3)  # stored on its side
    np.testing.assert_array_equal(ours, imread(str(path)))
    np.testing.assert_array_equal(ours, cv2.rotate(raw, cv2.ROTATE_90_CLOCKWISE))
    assert read_image_size(path) == (810, 1080) and ours.shape == (1080, 810, 3)


def test_strict_stops_at_the_first_bad_image(image_corpus, det_weights, tmp_path):
    res = invoke(["extract", "-m", det_weights, "-s", image_corpus[0], "-o", tmp_path, "--strict", *FAST])
    assert_fatal(res, "--strict")


def test_maps_over_the_image_corpus(image_corpus, det_weights, tmp_path):
    root, cases = image_corpus
    out = tmp_path / "maps"
    res = invoke(["maps", "-m", det_weights, "-s", root, "-o", out, "--imgsz", "160", "--layers", "9",
                  "--no-figures", "--no-progress"])
    assert res.exit_code == EXIT_SKIPPED, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert_skips_match(skip_entries(manifest), cases, res.output)
    ok = [c for c in cases if c.action == "ok"]
    assert manifest["counts"]["images"] == len(ok)
    assert {Path(m["image"]).name for m in manifest["images"]} == {c.file for c in ok}
    for npy in out.rglob("*.npy"):
        assert np.isfinite(np.load(npy).astype(np.float32)).all(), npy


# ------------------------------------------------------------------------------------ labels


def test_extract_bdd_label_corpus(tmp_path, assets, det_weights):
    images, labels, cases = build_bdd_corpus(tmp_path / "bdd", assets)
    out = tmp_path / "out"
    res = invoke(["extract", "-m", det_weights, "-s", images, "--labels", labels, "-o", out, "--boxes", "both", *FAST])
    assert res.exit_code == EXIT_SKIPPED, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    entries = manifest["skipped"]
    for case in cases:
        hits = [e for e in entries if e["file"] == case.file]
        assert len(hits) == 1 and case.reason in hits[0]["reason"] and hits[0]["action"] == case.action, (case, entries)
        assert f"{case.file}: {hits[0]['reason']} ({case.action})" in res.output
    assert len(entries) == len(cases)
    t = pq.read_table(out / "objects.parquet").to_pandas()
    assert set(t.image) == {"bus.jpg", "nolabels.jpg", "dup.jpg", "zidane.jpg"}
    gt = t[t.origin == "gt"].set_index("gt_id")
    assert set(gt.index) == {"g1", "u1", "o1", "p1"}  # bus.jpg's bad labels are gone, the first dup.jpg frame kept
    # an unknown category is kept as it is: label categories need not be model classes (it can only be FN)
    assert gt.loc["u1", "class_name"] == "unicorn" and gt.loc["u1", "status"] == "FN"
    assert gt.loc["o1", ["x2", "y2"]].tolist() == [810.0, 1080.0]  # clipped to the image
    assert not (t[t.image == "nolabels.jpg"].origin == "gt").any()  # kept as "labelled, no objects": preds are FP
    assert set(t[t.image == "nolabels.jpg"].status) == {"FP"}


def test_extract_malformed_bdd_json_is_fatal_and_names_the_place(tmp_path, assets, det_weights):
    images, _, _ = build_bdd_corpus(tmp_path / "bdd", assets)
    bad = tmp_path / "bad.json"
    bad.write_text('[{"name": "bus.jpg", "labels": [}]')
    res = invoke(["extract", "-m", det_weights, "-s", images, "--labels", bad, "-o", tmp_path / "o", *FAST])
    assert_fatal(res, str(bad), "malformed JSON", "line 1, column 33")
    assert not (tmp_path / "o" / "objects.parquet").exists()


def test_extract_coco_bad_image_id(tmp_path, assets, det_weights):
    images, labels = build_coco_corpus(tmp_path / "coco", assets)
    out = tmp_path / "out"
    res = invoke(["extract", "-m", det_weights, "-s", images, "--labels", labels, "-o", out, "--boxes", "gt", *FAST])
    assert res.exit_code == EXIT_SKIPPED, res.output
    entries = json.loads((out / "manifest.json").read_text())["skipped"]
    assert entries == [{"file": "coco.json[annotation 11]", "reason": "image_id 999 is not in 'images'",
                        "action": "skipped"}]
    assert pq.read_table(out / "objects.parquet").column("gt_id").to_pylist() == ["10"]


def test_extract_yolo_four_columns_and_values_above_one(tmp_path, assets, det_weights):
    images, labels = build_yolo_corpus(tmp_path / "yolo", assets)
    out = tmp_path / "out"
    res = invoke(["extract", "-m", det_weights, "-s", images, "--labels", labels, "-o", out, "--boxes", "gt", *FAST])
    assert res.exit_code == EXIT_SKIPPED, res.output
    entries = {e["file"]: e for e in json.loads((out / "manifest.json").read_text())["skipped"]}
    assert set(entries) == {"labels/bus.txt[line 2]", "labels/bus.txt[line 3]"}
    assert "4 columns" in entries["labels/bus.txt[line 2]"]["reason"]
    assert "outside the 810x1080 image" in entries["labels/bus.txt[line 3]"]["reason"]
    assert pq.read_table(out / "objects.parquet").num_rows == 1


def test_clean_run_exits_0(tmp_path, assets, det_weights):
    res = invoke(["extract", "-m", det_weights, "-s", assets / "bus.jpg", "-o", tmp_path, *FAST])
    assert res.exit_code == EXIT_OK and "0 skipped" in res.output, res.output
    assert json.loads((tmp_path / "manifest.json").read_text())["skipped"] == []


# ------------------------------------------------------------------------------------ models


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    (d / "random.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    (d / "empty.pt").write_bytes(b"")
    (d / "weights.txt").write_text("not a model")
    return {
        "random": (d / "random.pt", ["random.pt", "cannot be loaded as an Ultralytics model"]),
        "empty": (d / "empty.pt", ["empty.pt", "empty file"]),
        "missing": (d / "nope.pt", ["nope.pt", "model file not found"]),
        "classify": ("yolov8n-cls.yaml", ["yolov8n-cls.yaml", "task 'classify' is not supported"]),
        "not a model": (d / "weights.txt", ["weights.txt", "not a model file"]),
    }


@pytest.mark.parametrize("kind", ["random", "empty", "missing", "classify", "not a model"])
@pytest.mark.parametrize("command", ["extract", "maps", "layers"])
def test_bad_model_is_refused_in_one_line(command, kind, bad_models, assets, tmp_path):
    model, needles = bad_models[kind]
    if command == "layers":
        res = invoke(["layers", model])
    else:
        res = invoke([command, "-m", model, "-s", assets / "bus.jpg", "-o", tmp_path / "o", "--imgsz", "160",
                      "--no-progress"])
    assert_fatal(res, *needles)
    assert "ERROR" not in res.output  # Ultralytics' log prefix is stripped


@pytest.mark.parametrize("layers,needle", [
    ("99", "layer '99' does not exist"), ("-1", "layer '-1' does not exist"), ("p9", "layer 'p9' does not exist"),
    ("22", "is the detection head"), ("proto", "'proto'"),
])
@pytest.mark.parametrize("command", ["extract", "maps"])
def test_layer_out_of_range(command, layers, needle, det_weights, assets, tmp_path):
    res = invoke([command, "-m", det_weights, "-s", assets / "bus.jpg", "-o", tmp_path / "o", "--imgsz", "160",
                  "--layers", layers, "--no-progress"])
    assert_fatal(res, needle, "valid layers")


# ------------------------------------------------------------------------------------ outputs


@pytest.mark.parametrize("command", ["extract", "maps"])
def test_output_dir_that_cannot_be_written(command, det_weights, assets, tmp_path):
    """Tests run as root, so chmod does not stop writes: a path *under a regular file* fails for anyone."""
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for out in (blocker / "sub", blocker):
        res = invoke([command, "-m", det_weights, "-s", assets / "bus.jpg", "-o", out, "--imgsz", "160",
                      "--layers", "9", "--no-progress"])
        assert_fatal(res, str(out), f"{blocker} is a file, not a folder")
    assert blocker.read_text() == "x"


# ------------------------------------------------------------------------------------ tables (project/plot/stages)


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    from yololens.analysis.synthetic import make_objects_table

    root = tmp_path_factory.mktemp("tables")
    make_objects_table(root / "good", n=60)
    make_objects_table(root / "tiny", n=2)
    (root / "empty").mkdir()
    (root / "corrupt").mkdir()
    (root / "corrupt" / "objects.parquet").write_bytes((root / "good" / "objects.parquet").read_bytes()[:400])
    (root / "text").mkdir()
    (root / "text" / "objects.parquet").write_text("hello")
    return root


ANALYSIS = {
    "project": ["--method", "pca"],
    "plot": ["--method", "pca", "--no-html"],
    "stages": ["--folds", "2", "--bootstrap", "10", "--trust-sample", "30"],
}


@pytest.mark.parametrize("command", sorted(ANALYSIS))
@pytest.mark.parametrize("case,needles", [
    ("missing", ["no objects table", "run `yololens extract` first"]),
    ("empty", ["no objects table"]),
    ("corrupt", ["cannot read", "objects.parquet"]),
    ("text", ["cannot read", "objects.parquet"]),
])
def test_analysis_commands_refuse_unreadable_tables(command, case, needles, tables):
    res = invoke([command, tables / case, *ANALYSIS[command]])
    assert_fatal(res, *needles)


@pytest.mark.parametrize("command", sorted(ANALYSIS))
def test_analysis_commands_unknown_layer(command, tables):
    res = invoke([command, tables / "good", "--layer", "77", *ANALYSIS[command]])
    assert_fatal(res, "emb_L77", "available layers")


@pytest.mark.parametrize("command", ["project", "plot"])
def test_projection_of_too_few_objects(command, tables):
    assert_fatal(invoke([command, tables / "tiny", *ANALYSIS[command]]), "need at least 3 objects")


def test_stages_with_too_few_objects_explains_instead_of_failing(tables):
    res = invoke(["stages", tables / "tiny", *ANALYSIS["stages"]])
    # the data cannot answer: one line, exit 1, no chart (issue 20)
    assert res.exit_code == 1 and res.output.startswith("not enough objects to compare stages:"), res.output
    assert not (tables / "tiny" / "stages.png").exists()


@pytest.mark.parametrize("ultralytics_loaded", [
    False,
    True,
])
def test_plot_thumbnails_of_unreadable_images_are_left_out(tmp_path, ultralytics_loaded, monkeypatch):
    """As after `extract` in the same process (`yololens demo`, a notebook): Ultralytics has patched PIL."""
    from PIL import Image

    from yololens.analysis.synthetic import make_objects_table

    import ultralytics.utils.patches as patches

    original = getattr(patches, "_image_open", Image.open)
    monkeypatch.setattr(Image, "open", patches.image_open if ultralytics_loaded else original)

    make_objects_table(tmp_path, n=60)
    for image in (tmp_path / "images").iterdir():
        image.write_bytes(b"")  # every thumbnail source is now a zero-byte file
    res = invoke(["plot", tmp_path, "--method", "pca", "--thumbnails", "10", "--no-html"])
    assert res.exit_code == EXIT_OK, res.output
    assert cv2.imread(str(next((tmp_path / "figures").glob("*.png")))) is not None


@pytest.mark.parametrize("command,blocked", [("project", "projections"), ("plot", "projections"),
                                             ("stages", "stages.csv")])
def test_analysis_output_that_cannot_be_written(command, blocked, tmp_path):
    from yololens.analysis.synthetic import make_objects_table

    make_objects_table(tmp_path, n=60, write_images=False)
    path = tmp_path / blocked
    path.write_text("x") if blocked == "projections" else path.mkdir()  # a file where a folder goes, and vice versa
    assert_fatal(invoke([command, tmp_path, *ANALYSIS[command]]), blocked)


def test_unexpected_errors_never_exit_1(monkeypatch, tmp_path, assets, det_weights):
    """Exit 1 means "finished, inputs skipped"; a crash must not look like that."""
    import yololens.engine.image_objects as objects_mod
    import yololens.jobs.extract_windows as ex

    def boom(*args, **kwargs):
        raise ValueError("simulated bug")

    monkeypatch.setattr(objects_mod, "match", boom)
    res = invoke(["extract", "-m", det_weights, "-s", assets / "bus.jpg", "-o", tmp_path, *FAST[:2], "--no-progress"])
    assert res.exit_code == EXIT_OK  # pred boxes without labels never call match
    monkeypatch.setattr(ex, "pool_boxes", boom)
    res = invoke(["extract", "-m", det_weights, "-s", assets / "bus.jpg", "-o", tmp_path / "2", *FAST])
    assert res.exit_code == EXIT_BUG and "unexpected ValueError: simulated bug" in res.output, res.output
    assert "Traceback (most recent call last)" in res.output and "yololens bug" in res.output


def test_disk_full_is_one_line(monkeypatch, tmp_path, assets, det_weights):
    import errno

    import yololens.store.table as table

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "x.parquet"))

    monkeypatch.setattr(table.pq, "write_table", full)
    res = invoke(["extract", "-m", det_weights, "-s", assets / "bus.jpg", "-o", tmp_path, *FAST])
    assert_fatal(res, "no space left", "rerun to resume")


# ------------------------------------------------------------------------------------ seg commands


SEG_FAST = ["--imgsz", "160", "--no-progress"]


def _bad_files_and_bus(root: Path, cases: list[Case], tmp_path: Path) -> tuple[Path, list[Case]]:
    """Every bad file plus one good image: protos draws a figure per image, the decoding is shared.

    Leaves out the 1x8000 image (see test_protos_thin_image_does_not_cost_the_run)."""
    drop = {c.file for c in cases if c.action == "ok" and c.file != "good_bus.jpg"}
    sub = tmp_path / "corpus"
    sub.mkdir()
    for entry in root.iterdir():
        if entry.name not in drop:
            (sub / entry.name).symlink_to(os.readlink(entry) if entry.is_symlink() else entry,
                                          target_is_directory=entry.is_dir())
    return sub, [c for c in cases if c.file not in drop]


def test_coefficients_over_the_image_corpus(image_corpus, seg_weights, tmp_path):
    root, cases = image_corpus
    out = tmp_path / "co"
    res = invoke(["coefficients", "-m", seg_weights, "-s", root, "-o", out, *SEG_FAST])
    assert res.exit_code == EXIT_SKIPPED, res.output
    ok = [c for c in cases if c.action == "ok"]
    assert f"{len(ok)} image(s)" in res.output and f"{len(cases) - len(ok)} skipped" in res.output
    for case in cases:  # decode failures are printed; listing problems only counted (see the xfail below)
        if case.action != "ok" and case.reason not in ("is a directory", "symlink loop", "broken symlink"):
            assert f"{case.file}: " in res.output and case.reason in res.output, case
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(out / "mask_coefficients.csv").to_pandas()
    assert set(table.image_name) <= {c.file for c in ok} and "good_bus.jpg" in set(table.image_name)
    assert_skips_match(skip_entries(json.loads((out / "manifest.json").read_text())), cases, res.output)


def test_coefficients_lists_every_skip(image_corpus, seg_weights, tmp_path):
    root, cases = _bad_files_and_bus(*image_corpus, tmp_path)
    res = invoke(["coefficients", "-m", seg_weights, "-s", root, "-o", tmp_path / "co", *SEG_FAST])
    assert res.exit_code == EXIT_SKIPPED
    for case in cases:
        if case.action != "ok":
            assert f"{case.file}: " in res.output and case.reason in res.output, case
    assert_skips_match(skip_entries(json.loads((tmp_path / "co" / "manifest.json").read_text())), cases, res.output)


def test_protos_over_the_image_corpus(image_corpus, seg_weights, tmp_path):
    root, cases = _bad_files_and_bus(*image_corpus, tmp_path)
    out = tmp_path / "pr"
    res = invoke(["protos", "-m", seg_weights, "-s", root, "-o", out, "--max-instances", "1", *SEG_FAST])
    assert res.exit_code == EXIT_SKIPPED, res.output
    for case in cases:
        if case.action != "ok" and case.reason not in ("is a directory", "symlink loop", "broken symlink"):
            assert f"{case.file}: " in res.output and case.reason in res.output, case
    manifest = json.loads((out / "manifest.json").read_text())  # protos writes one, like every job
    assert manifest["command"] == "protos" and manifest["counts"]["skipped"] == len([c for c in cases if c.action != "ok"])
    assert_skips_match(skip_entries(manifest), cases, res.output)


def test_protos_thin_image_does_not_cost_the_run(image_corpus, seg_weights, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("good_bus.jpg", "thin_1x8000.png"):
        (src / name).symlink_to(image_corpus[0] / name)
    res = invoke(["protos", "-m", seg_weights, "-s", src, "-o", tmp_path / "pr", *SEG_FAST])
    assert res.exit_code in (EXIT_OK, EXIT_SKIPPED), res.output


@pytest.mark.parametrize("command", ["protos", "coefficients"])
@pytest.mark.parametrize("kind", ["detect", "random", "missing", "classify"])
def test_seg_commands_refuse_bad_models(command, kind, bad_models, det_weights, assets, tmp_path):
    model, needles = (det_weights, ["needs a segmentation model", "task is 'detect'"]) if kind == "detect" \
        else bad_models[kind]
    res = invoke([command, "-m", model, "-s", assets / "bus.jpg", "-o", tmp_path / "o", *SEG_FAST])
    assert_fatal(res, *needles)


@pytest.mark.parametrize("index,needle", [("32", "index 32 is out of range"), ("-1", "index -1 is out of range"),
                                          ("3,99", "index 99 is out of range"), ("x", "'x' is not an integer")])
def test_coefficient_index_out_of_range(index, needle, seg_weights, assets, tmp_path):
    res = invoke(["coefficients", "-m", seg_weights, "-s", assets / "bus.jpg", "-o", tmp_path, "--index", index,
                  *SEG_FAST])
    assert_fatal(res, needle)


@pytest.mark.parametrize("command", ["protos", "coefficients"])
def test_seg_output_dir_that_cannot_be_written(command, seg_weights, assets, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    res = invoke([command, "-m", seg_weights, "-s", assets / "bus.jpg", "-o", blocker / "sub", *SEG_FAST])
    assert_fatal(res, f"{blocker} is a file, not a folder")
