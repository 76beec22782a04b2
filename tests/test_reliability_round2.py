"""Issue #12, reliability round two: data loss, silent corruption, writing outside --out, one-line errors.

Each test names the numbered case of the issue it covers; docs/RELIABILITY.md lists them. The inputs are
built in tmp dirs by ``tests/reliability_corpus.py``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reliability_corpus import HOSTILE_NAMES, build_hostile_names, build_mixed_attribute_bdd, error_line, invoke
from yololens.cli.common import EXIT_FATAL, EXIT_OK, EXIT_SKIPPED
from yololens.errors import InputError
from yololens.store.table import ResumableTable

pytestmark = pytest.mark.reliability

FAST = ["--imgsz", "160", "--layers", "9", "--no-progress"]


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


# ------------------------------------------------------------- 1. attribute types across windows


@pytest.mark.parametrize("window", [1, 64])
def test_1_mixed_attribute_types_merge_as_strings_whatever_the_window(window, tmp_path, assets, det_weights):
    images, labels = build_mixed_attribute_bdd(tmp_path / "bdd", assets)
    out = tmp_path / "out"
    res = invoke(["extract", "-m", det_weights, "-s", images, "--labels", labels, "--boxes", "gt", "--out", out,
                  "--window", window, "--batch", 1, *FAST])
    assert res.exit_code == EXIT_OK, res.output
    table = pq.read_table(out / "objects.parquet")
    assert table.schema.field("attr_occluded").type == pa.string()
    assert table.schema.field("attr_weather").type == pa.string()
    assert table.schema.field("attr_truncated").type == pa.bool_()  # one type only: it stays a bool
    assert table.column("attr_occluded").to_pylist() == ["False", "no", None]
    assert table.column("attr_weather").to_pylist() == ["clear", "3", None]
    assert table.column("attr_truncated").to_pylist() == [None, None, True]


def test_1_a_merge_failure_keeps_every_part_and_says_what_to_do(tmp_path):
    table = ResumableTable(tmp_path / "objects.parquet", key_column="image")
    table.write_part(pa.table({"image": ["a"], "attr_x": pa.array([1.5])}), ["a"], 0)
    table.write_part(pa.table({"image": ["b"], "attr_x": pa.array([[1, 2]])}), ["b"], 1)  # list vs double
    parts = sorted(p.name for p in table.parts_dir.iterdir())
    with pytest.raises(InputError) as info:
        table.finalize()
    message = str(info.value)
    assert "objects.parquet: cannot merge" in message and "--overwrite" in message and "kept" in message
    assert sorted(p.name for p in table.parts_dir.iterdir()) == parts and not table.path.exists()
    assert table.done_keys() == {"a", "b"}


# ------------------------------------------------------------- 3-5. output names


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=300), min_size=1, max_size=12))
def test_3_4_5_output_names_are_safe_bounded_and_unique(keys):
    from yololens.store.naming import MAX_NAME_BYTES, OutputNames

    keys += list(HOSTILE_NAMES)
    names = OutputNames(keys)
    got = {key: names(key) for key in dict.fromkeys(keys)}
    out = Path("/out")
    for key, name in got.items():
        assert name == names(key)  # stable
        assert "/" not in name and "\\" not in name and "\0" not in name and name not in (".", "..")
        assert not name.startswith(("-", ".")) and len(name.encode()) <= MAX_NAME_BYTES
        assert (out / name).resolve().parent == out
    assert len({n.lower() for n in got.values()}) == len(got)  # no two inputs share an output


def test_3_maps_never_writes_outside_out(tmp_path, assets):
    src = tmp_path / "src"
    build_hostile_names(src, assets)
    out = tmp_path / "sub" / "out"
    res = invoke(["maps", "-m", "yolov8n.yaml", "-s", src, "--out", out, "--layers", "9", "--imgsz", "64",
                  "--channels", "2", "--no-progress"])
    assert res.exit_code == EXIT_OK, res.output
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["out"]  # nothing beside OUT
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert len(folders) == len(HOSTILE_NAMES)  # one folder per image, none shared, none at OUT's root
    assert all(sorted(f.name for f in folder.iterdir()) == ["L9_SPPF.json", "L9_SPPF.npy", "L9_SPPF_channels.png",
                                                            "L9_SPPF_overlay.png", "L9_SPPF_pca.png", "overview.png"]
               for folder in folders)
    manifest = json.loads((out / "manifest.json").read_text())
    assert len({m["folder"] for m in manifest["images"]}) == len(HOSTILE_NAMES)


def test_4_5_coefficients_prototype_pngs_one_per_image_and_long_names(tmp_path, assets):
    src = tmp_path / "src"
    build_hostile_names(src, assets)
    out = tmp_path / "out"
    args = ["coefficients", "-m", "yolov8n-seg.yaml", "-s", src, "--out", out, "--index", "3",
            "--save-prototype-png", "--imgsz", "64", "--no-progress"]
    res = invoke(args)
    assert res.exit_code == EXIT_OK, res.output
    pngs = sorted(p.name for p in (out / "prototypes").iterdir())
    assert len(pngs) == len(HOSTILE_NAMES) and all(n.endswith("_p3.png") for n in pngs)
    assert all(len(n.encode()) <= 255 for n in pngs)
    assert invoke(args).exit_code == EXIT_OK
    assert sorted(p.name for p in (out / "prototypes").iterdir()) == pngs


def test_5_protos_with_a_252_character_file_name(tmp_path, assets):
    src = tmp_path / "src"
    build_hostile_names(src, assets)
    out = tmp_path / "out"
    res = invoke(["protos", "-m", "yolov8n-seg.yaml", "-s", src, "--out", out, "--imgsz", "64", "--no-progress"])
    assert res.exit_code == EXIT_OK, res.output
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert len(folders) == len(HOSTILE_NAMES)
    assert all((f / "meta.json").is_file() and (f / "protos.npy").is_file() for f in folders)
    long_key = next(n for n in HOSTILE_NAMES if len(n) > 200)
    meta = [json.loads((f / "meta.json").read_text())["image"] for f in folders]
    assert sorted(meta) == sorted(HOSTILE_NAMES) and long_key in meta


# ------------------------------------------------------------- 2. a rerun with another source


def _two_images(root: Path, assets: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(assets / "bus.jpg", root / "a.jpg")
    shutil.copy(assets / "zidane.jpg", root / "b.jpg")
    return root


@pytest.mark.parametrize("change,needle", [("remove", "0 added, 1 removed, 0 modified; removed: b.jpg"),
                                           ("add", "1 added, 0 removed, 0 modified; added: c.jpg"),
                                           ("modify", "0 added, 0 removed, 1 modified; modified: a.jpg")])
def test_2_a_changed_source_is_refused_not_mixed(change, needle, tmp_path, assets, det_weights):
    src = _two_images(tmp_path / "src", assets)
    out = tmp_path / "out"
    args = ["extract", "-m", det_weights, "-s", src, "--out", out, "--crops", *FAST]
    assert invoke(args).exit_code == EXIT_OK
    before = (out / "objects.parquet").read_bytes()
    crops = {p.name: p.read_bytes() for p in (out / "crops").iterdir()}
    if change == "remove":
        (src / "b.jpg").unlink()
    elif change == "add":
        shutil.copy(assets / "zidane.jpg", src / "c.jpg")
    else:
        shutil.copy(assets / "zidane.jpg", src / "a.jpg")
    res = invoke(args)
    assert res.exit_code == EXIT_FATAL
    line = error_line(res)
    assert "different source" in line and needle in line and "--overwrite" in line, line
    assert (out / "objects.parquet").read_bytes() == before  # nothing merged, nothing lost
    assert {p.name: p.read_bytes() for p in (out / "crops").iterdir()} == crops
    assert invoke([*args, "--overwrite"]).exit_code == EXIT_OK


def test_2_crop_names_come_from_the_image_key(tmp_path, assets, det_weights):
    src = _two_images(tmp_path / "src", assets)
    out = tmp_path / "out"
    assert invoke(["extract", "-m", det_weights, "-s", src, "--out", out, "--crops", *FAST]).exit_code == EXIT_OK
    table = pq.read_table(out / "objects.parquet", columns=["image", "object", "crop"]).to_pylist()
    assert table and all(r["crop"] == f"crops/{r['image'].replace('.', '_')}_{r['object']:04d}.jpg" for r in table)
    assert sorted(p.name for p in (out / "crops").iterdir()) == sorted(r["crop"][6:] for r in table)


def test_2_three_spellings_of_one_image_are_one_image(tmp_path, assets, det_weights, monkeypatch):
    (tmp_path / "base").mkdir()
    shutil.copy(assets / "bus.jpg", tmp_path / "base" / "x.jpg")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    for spelling in ("base/x.jpg", "./base/x.jpg", str(tmp_path / "base" / "x.jpg")):
        res = invoke(["extract", "-m", det_weights, "-s", spelling, "--out", out, *FAST])
        assert res.exit_code == EXIT_OK, res.output
    table = pq.read_table(out / "objects.parquet")
    assert set(table.column("image").to_pylist()) == {"x.jpg"}
    assert table.column("object").to_pylist() == list(range(table.num_rows))  # one copy of the rows


def test_2_out_inside_source_is_never_ingested(tmp_path, assets, det_weights):
    src = _two_images(tmp_path / "src", assets)
    out = src / "results"
    args = ["extract", "-m", det_weights, "-s", src, "--out", out, "--crops", *FAST]
    assert invoke(args).exit_code == EXIT_OK
    first = pq.read_table(out / "objects.parquet")
    res = invoke(args)
    assert res.exit_code == EXIT_OK and "extract: nothing to do: " in res.output and "from 2 images already done" in res.output, res.output
    again = pq.read_table(out / "objects.parquet")
    assert again.equals(first) and set(again.column("image").to_pylist()) == {"a.jpg", "b.jpg"}


def test_2_coefficients_out_inside_source_never_reads_its_pngs(tmp_path, assets):
    src = _two_images(tmp_path / "src", assets)
    out = src / "coef"
    args = ["coefficients", "-m", "yolov8n-seg.yaml", "-s", src, "--out", out, "--index", "3",
            "--save-prototype-png", "--imgsz", "64", "--no-progress"]
    assert invoke(args).exit_code == EXIT_OK
    res = invoke(args)
    assert res.exit_code == EXIT_OK and "0 image(s)" in res.output and "2 already done" in res.output, res.output
    assert sorted(p.name for p in (out / "prototypes").iterdir()) == ["a_jpg_p3.png", "b_jpg_p3.png"]


# ------------------------------------------------------------- 9. corrupt resume state


def _interrupted_run(tmp_path: Path, assets: Path, det_weights: Path) -> tuple[list, Path, Path]:
    """A finished 2-window run (its parts put back as if the merge never happened), plus the reference table."""
    src = _two_images(tmp_path / "src", assets)
    out = tmp_path / "out"
    args = ["extract", "-m", det_weights, "-s", src, "--out", out, "--window", 1, *FAST]
    assert invoke(args).exit_code == EXIT_OK
    return args, src, out


def test_9_a_truncated_part_is_named_set_aside_and_its_window_redone(tmp_path, assets, det_weights, monkeypatch):
    args, _, out = _interrupted_run(tmp_path, assets, det_weights)
    want = pq.read_table(out / "objects.parquet")
    # interrupt a second run after its first part, then cut its part short
    (out / "objects.parquet").unlink()
    write_part = ResumableTable.write_part

    def write_then_interrupt(self, *a, **k):
        write_part(self, *a, **k)
        raise KeyboardInterrupt

    monkeypatch.setattr(ResumableTable, "write_part", write_then_interrupt)
    assert invoke(args).exit_code == 130
    monkeypatch.undo()
    part = next((out / ".parts" / "objects.parquet").glob("part-*.parquet"))
    part.write_bytes(part.read_bytes()[:100])
    res = invoke(args)
    assert res.exit_code == EXIT_SKIPPED, res.output
    assert f"{part}: corrupt part" in res.output and "window is redone" in res.output and "Traceback" not in res.output
    assert pq.read_table(out / "objects.parquet").equals(want)  # nothing lost: the window was redone
    assert part.with_name(part.name + ".corrupt").exists()  # set aside, never deleted


def test_9_a_corrupt_final_table_is_named_with_a_remedy(tmp_path, assets, det_weights):
    args, _, out = _interrupted_run(tmp_path, assets, det_weights)
    (out / "objects.parquet").write_bytes(b"PAR1 not really")
    res = invoke(args)
    line = error_line(res)
    assert res.exit_code == EXIT_FATAL and f"{out / 'objects.parquet'}: cannot read the results table" in line
    assert "--overwrite" in line and "ArrowInvalid" not in line, line
    assert invoke([*args, "--overwrite"]).exit_code == EXIT_OK


def test_9_a_corrupt_settings_record_is_named_with_a_remedy(tmp_path, assets, det_weights):
    args, _, out = _interrupted_run(tmp_path, assets, det_weights)
    (out / ".yololens-run.json").write_text('{"model": ')
    line = error_line(invoke(args))
    assert ".yololens-run.json: unreadable record of the previous run's settings" in line and "--overwrite" in line


# ------------------------------------------------------------- 12. numeric options


BAD_OPTIONS = [("extract", "--batch", "0"), ("extract", "--conf", "1.5"), ("extract", "--imgsz", "0"),
               ("extract", "--imgsz", "-64"), ("extract", "--iou", "-0.1"), ("extract", "--max-det", "0"),
               ("extract", "--match-iou", "2"), ("extract", "--pool-size", "0"), ("extract", "--crop-size", "0"),
               ("extract", "--window", "0"), ("extract", "--workers", "-1"), ("maps", "--batch", "0"),
               ("maps", "--channels", "-1"), ("protos", "--conf", "1.5"), ("protos", "--max-instances", "-2"),
               ("coefficients", "--batch", "0"), ("coefficients", "--imgsz", "0"), ("coefficients", "--window", "0")]


@pytest.mark.parametrize("command,option,value", BAD_OPTIONS)
def test_12_numeric_options_are_checked_by_the_api(command, option, value, assets, tmp_path):
    import yololens
    from yololens.jobs.coefficients import coefficients
    from yololens.jobs.protos import protos

    api = {"extract": yololens.extract, "maps": yololens.maps, "protos": protos, "coefficients": coefficients}[command]
    name = option[2:].replace("-", "_")
    kwargs = {name: type(1.5 if "." in value else 1)(float(value))}
    model = "yolov8n-seg.yaml"
    with pytest.raises(InputError, match=f"^{option} must be") as info:
        api(model, str(assets / "bus.jpg"), out=tmp_path / "o", **kwargs)
    assert "\n" not in str(info.value) and value.lstrip("-") in str(info.value)
    assert not (tmp_path / "o").exists()  # refused before anything ran or was written


@pytest.mark.parametrize("command,option,value", BAD_OPTIONS[:3] + BAD_OPTIONS[11:13] + BAD_OPTIONS[15:16])
def test_12_numeric_options_are_one_line_on_the_command_line(command, option, value, assets, tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "yololens.cli.app", command, "-m", "yolov8n-seg.yaml", "-s",
                           str(assets / "bus.jpg"), "--out", str(tmp_path / "o"), option, value],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.returncode == EXIT_FATAL, proc.stderr
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and option in lines[0], lines


# ------------------------------------------------------------- 6-8, 15. bounded memory, special files


@pytest.mark.parametrize("h,w", [(2, 3000), (3000, 2), (1, 8000)])
def test_6_figure_canvases_are_clamped_whatever_the_aspect(h, w):
    import numpy as np

    from yololens.figures import featuremaps as figs

    rgb = np.zeros((h, w, 3), np.uint8)
    tiles = [(c, np.random.default_rng(c).random((h, w)).astype(np.float32)) for c in range(4)]
    rows = [figs.OverviewRow("L9", rgb, rgb, tiles, [0.5, 0.3, 0.2]) for _ in range(2)]
    for fig in (figs.overview_figure(rows, "t", "mean", "energy"),
                figs.channel_grid_figure(np.stack([t for _, t in tiles]), np.arange(4), "t", "energy", False)):
        width, height = (fig.get_size_inches() * fig.dpi).round()
        assert width <= 8000 and height <= 8000 and width * height <= 8000 * 2000, (width, height)


def test_7_15_special_and_huge_files_are_skipped_in_one_line_without_reading_them(tmp_path, assets, det_weights):
    import resource

    from reliability_corpus import build_special_files

    src = tmp_path / "src"
    cases = build_special_files(src, assets)
    out = tmp_path / "out"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    res = invoke(["extract", "-m", det_weights, "-s", src, "--out", out, *FAST])
    assert res.exit_code == EXIT_SKIPPED, res.output
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    skipped = json.loads((out / "manifest.json").read_text())["skipped"]
    assert len(skipped) == 2, skipped
    for case in cases:
        hit = [s for s in skipped if s["file"].endswith(case.file)]
        assert len(hit) == 1 and case.reason in hit[0]["reason"], (case, skipped)
        assert f"{hit[0]['file']}: {hit[0]['reason']} (skipped)" in res.output
    assert grown_mb < 500, grown_mb  # the 1.5 GB file was never read into memory
    res = invoke(["extract", "-m", det_weights, "-s", src, "--out", tmp_path / "o2", "--max-image-bytes",
                  str(10 ** 10), *FAST])
    assert "video.jpg: not an image (cannot be decoded) (skipped)" in res.output  # sniffed, not read


def test_8_a_large_png_gives_no_decompression_bomb_warning(tmp_path, capfd):
    import subprocess
    import sys

    from reliability_corpus import png_header_only

    png_header_only(tmp_path / "big.png", 10000, 9500)  # 95 MP: above Pillow's 89 MP warning, below our 100
    code = ("import warnings, sys; warnings.simplefilter('default'); "
            "from yololens.sources.images import read_image_size; print(read_image_size(sys.argv[1]))")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "big.png")], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.returncode == 0 and proc.stdout.strip() == "(10000, 9500)", proc.stderr
    assert "DecompressionBomb" not in proc.stderr, proc.stderr


# ------------------------------------------------------------- 10. label files


def test_10_a_non_utf8_classes_txt_is_one_line(tmp_path, assets, det_weights):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    shutil.copy(assets / "bus.jpg", images / "bus.jpg")
    (labels / "bus.txt").write_text("5 0.5 0.45 0.95 0.5\n")
    (labels / "classes.txt").write_bytes("person\nbüs\n".encode("latin-1"))
    res = invoke(["extract", "-m", det_weights, "-s", images, "--labels", labels, "--boxes", "gt", "--out",
                  tmp_path / "out", *FAST])
    line = error_line(res)
    assert res.exit_code == EXIT_FATAL and f"{labels / 'classes.txt'}: not UTF-8 text (byte 8)" in line, line


def test_10_one_malformed_per_frame_json_is_skipped_not_fatal(tmp_path, assets, det_weights):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    for name in ("a", "b"):
        shutil.copy(assets / "bus.jpg", images / f"{name}.jpg")
    box = {"x1": 20, "y1": 230, "x2": 800, "y2": 750}
    (labels / "a.json").write_text(json.dumps({"name": "a.jpg", "labels": [{"id": "1", "category": "bus",
                                                                             "box2d": box}]}))
    (labels / "b.json").write_text('{"name": "b.jpg", "labels": [')
    out = tmp_path / "out"
    res = invoke(["extract", "-m", det_weights, "-s", images, "--labels", labels, "--boxes", "gt", "--out", out, *FAST])
    assert res.exit_code == EXIT_SKIPPED, res.output
    assert "b.json: malformed JSON at line 1, column" in res.output and "Traceback" not in res.output
    assert pq.read_table(out / "objects.parquet").column("image").to_pylist() == ["a.jpg"]


# ------------------------------------------------------------- 11. I/O errors name the user's path


@pytest.mark.parametrize("code,needle", [(28, "no space left on the device; free some space and rerun"),
                                         (30, "read-only file system; choose another --out"),
                                         (5, "input/output error")])
def test_11_io_errors_inside_a_writer_name_the_target_and_a_remedy(code, needle, tmp_path, assets, det_weights,
                                                                    monkeypatch):
    import yololens.store.table as table

    def failing(*args, **kwargs):
        raise OSError(code, os.strerror(code))  # as a write() deep in Arrow: no file name at all

    monkeypatch.setattr(table.pq, "write_table", failing)
    out = tmp_path / "out"
    line = error_line(invoke(["extract", "-m", det_weights, "-s", assets / "bus.jpg", "-o", out, *FAST]))
    assert "?" not in line.split(":")[1] and needle in line and ".tmp" not in line, line
    assert str(out / ".parts" / "objects.parquet" / "part-") in line, line


def test_11_commands_without_out_give_a_remedy_they_can_follow(capsys):
    import errno

    import typer

    from yololens.cli.common import EXIT_FATAL as FATAL, cli_errors

    def project(table: str) -> None:  # like `project`/`stages`: writes beside its table, has no --out
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), f"{table}/projections/x.parquet")

    def extract(out: str) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), f"{out}/objects.parquet")

    for fn, arg in ((project, "t"), (extract, "o")):
        with pytest.raises(typer.Exit) as info:
            cli_errors(fn)(arg)
        assert info.value.exit_code == FATAL
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "error: t/projections/x.parquet: read-only file system; copy the table to a writable folder and run there"
    assert err[1] == "error: o/objects.parquet: read-only file system; choose another --out"


def test_11_a_failing_temp_file_is_reported_under_the_target_name(tmp_path, monkeypatch):
    import tempfile

    from yololens.store.atomic import write_text

    def no_temp(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".stages.abcd1234.tmp.json"))

    monkeypatch.setattr(tempfile, "mkstemp", no_temp)
    with pytest.raises(PermissionError) as info:
        write_text(tmp_path / "stages.json", "{}")
    assert info.value.filename == str(tmp_path / "stages.json")


# ------------------------------------------------------------- 13. a table outside --out


def test_13_a_table_outside_out_is_locked_and_keeps_no_state_beside_it(tmp_path, assets):
    from yololens.cli.common import EXIT_LOCKED
    from yololens.store.lock import DirectoryLock

    src = _two_images(tmp_path / "src", assets)
    shared = tmp_path / "shared"
    shared.mkdir()
    csv = shared / "coefs.csv"
    args = ["coefficients", "-m", "yolov8n-seg.yaml", "-s", src, "--csv", csv, "--index", "3", "--imgsz", "64",
            "--no-progress"]
    with DirectoryLock(tmp_path / "one", guards=csv):  # a first run, into another --out, is writing this CSV
        res = invoke([*args, "--out", tmp_path / "two"])
    assert res.exit_code == EXIT_LOCKED, res.output
    assert f"{csv}: output file is in use by pid {os.getpid()}" in error_line(res)
    res = invoke([*args, "--out", tmp_path / "two"])
    assert res.exit_code == EXIT_OK, res.output
    assert sorted(p.name for p in shared.iterdir()) == ["coefs.csv"]  # no .parts, no settings, no lock left
    assert (tmp_path / "two" / ".coefs.csv.parquet").is_file() and (tmp_path / "two" / ".coefs.csv.settings.json").is_file()


@pytest.mark.parametrize("command", ["maps", "protos", "coefficients"])
def test_7_every_image_command_takes_max_image_bytes(command, tmp_path, assets):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(assets / "bus.jpg", src / "bus.jpg")  # 137 kB
    shutil.copy(assets / "zidane.jpg", src / "zidane.jpg")  # 50 kB
    res = invoke([command, "-m", "yolov8n-seg.yaml", "-s", src, "--out", tmp_path / "o", "--imgsz", "64",
                  "--max-image-bytes", 100_000, "--no-progress"])
    assert res.exit_code == EXIT_SKIPPED, res.output
    size = (src / "bus.jpg").stat().st_size
    assert f"bus.jpg: file too large ({size:,} bytes; limit --max-image-bytes 100000) (skipped)" in res.output
    assert "zidane.jpg" not in res.output.replace("-> ", "")
