"""Issue #19's own red team: cases beyond the issue's list, across commands and the API (labels, run folders,
models, options, filesystem, concurrency, signals, HTML payloads in Chromium). docs/RELIABILITY.md lists each
case (R3-xx) with its result. A case is a user's mistake or an attacker's input: the answer is one
``error:`` line (exit 2), a skip line (exit 1) or a correct result, never a traceback (exit 70) or a hang.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reliability_corpus import invoke, synthetic_run
from yololens.cli.common import EXIT_FATAL
from yololens.errors import InputError

pytestmark = pytest.mark.reliability
ROOT = Path(__file__).resolve().parents[1]
SEG_YAML = "yolov8n-seg.yaml"


def one_error(res) -> str:
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error: ")]
    assert res.exit_code == EXIT_FATAL and len(lines) == 1 and "Traceback" not in res.output, res.output
    return lines[0]


def make_run(root: Path, extra: dict | None = None, n: int = 40) -> Path:
    return synthetic_run(root, extra, n)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("redteam") / "run")


def image_dir(root: Path, names=("a.jpg",)) -> Path:
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("RGB", (40, 30), (20, 40, 60)).save(root / name)
    return root


# ------------------------------------------------------------- filters (R3-01 .. R3-10)

FILTERS = {
    "R3-01 NUL byte": "class_name == 'car'\x00 or 1",
    "R3-02 unclosed backtick": "`class_name == 'car'",
    "R3-03 5000 chars": " or ".join(["class_name == 'car'"] * 300),
    "R3-04 3000 nested nots": "not " * 3000 + "class_name == 'car'",
    "R3-05 bytes literal": "class_name == b'car'",
    "R3-06 f-string": "class_name == f'{__import__(\"os\").getcwd()}'",
    "R3-07 walrus": "(x := 1) == 1",
    "R3-08 subscript": "class_name[0] == 'c'",
    "R3-09 homoglyph column": "сlass_name == 'car'",  # Cyrillic с
    "R3-10 dunder via backticks": "`__class__` == 1",
}


@pytest.mark.parametrize("expr", FILTERS.values(), ids=FILTERS.keys())
def test_filters_are_refused_with_one_line(expr, run):
    line = one_error(invoke(["plot", run, "--method", "pca", "--no-html", "--keep", expr]))
    assert line.startswith("error: --keep ")


def test_R3_11_the_api_refuses_a_code_filter_too(run, tmp_path):
    import yololens

    marker = tmp_path / "pwned"
    with pytest.raises(InputError):
        yololens.plot(run, method="pca", html=False, keep=f"@pd.io.common.os.system('touch {marker}') == 0")
    assert not marker.exists()


# ------------------------------------------------------------- names from data (R3-12 .. R3-16)

NAMES = {"R3-12 dot-dot": "..", "R3-13 leading dash": "-rf", "R3-14 newline": "a\nb",
         "R3-15 300 chars": "x" * 300, "R3-16 non-ASCII": "车辆/../类"}


@pytest.mark.parametrize("name", NAMES.values(), ids=NAMES.keys())
def test_a_colour_column_named_anything_writes_one_safe_file_in_figures(name, tmp_path):
    run = make_run(tmp_path / "run", {name: ["u", "v"] * 20})
    res = invoke(["plot", run, "--method", "pca", "--no-html", "--color", name])
    assert res.exit_code == 0, res.output
    figures = [p for p in (run / "figures").iterdir()]
    assert len(figures) == 1 and len(figures[0].name.encode()) < 120 and not figures[0].name.startswith(("-", "."))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


# ------------------------------------------------------------- labels (R3-17 .. R3-24)


def coco(root: Path, data: dict) -> tuple[Path, Path]:
    images = image_dir(root / "images")
    labels = root / "coco.json"
    labels.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return images, labels


BASE = {"images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 30}],
        "categories": [{"id": 1, "name": "thing"}]}


def test_R3_17_annotations_that_are_a_dict_are_one_line(tmp_path):
    from yololens.sources.resolve import open_source

    images, labels = coco(tmp_path, {**BASE, "annotations": {"id": 1}})
    with pytest.raises(InputError, match="'annotations' is not a list"):
        open_source(images, labels)


def test_R3_18_a_file_name_that_climbs_out_of_the_source_is_skipped(tmp_path):
    from yololens.sources.resolve import open_source

    image_dir(tmp_path / "outside")
    data = {**BASE, "images": [{"id": 1, "file_name": "../outside/a.jpg"}, {"id": 2, "file_name": "a.jpg"}],
            "annotations": []}
    images, labels = coco(tmp_path / "ds", data)
    src = open_source(images, labels)
    assert [r.name for r in src.records] == ["a.jpg"] and len(src.skips) == 1


def test_R3_19_json_nested_100k_deep_is_one_line(tmp_path):
    from yololens.sources.resolve import open_source

    images, labels = coco(tmp_path, "[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError):
        open_source(images, labels)


def test_R3_20_a_binary_label_file_is_one_line(tmp_path):
    from yololens.sources.resolve import open_source

    images, labels = coco(tmp_path, "")
    labels.write_bytes(b"{\x00\x01\x02}")
    with pytest.raises(InputError, match="binary"):
        open_source(images, labels)


@pytest.mark.parametrize("what", ["R3-21 list FIFO", "R3-22 list NUL", "R3-23 list latin-1"])
def test_an_image_list_that_is_no_text_is_one_line(what, tmp_path):
    from yololens.sources.resolve import open_source

    image_dir(tmp_path)
    txt = tmp_path / "list.txt"
    if "FIFO" in what:
        os.mkfifo(txt)
    elif "NUL" in what:
        txt.write_bytes(b"a.jpg\n\x00\x00")
    else:
        txt.write_bytes("a.jpg\né.jpg\n".encode("latin-1"))
    with pytest.raises(InputError, match="list.txt"):
        open_source(txt)


def test_R3_24_a_class_map_that_is_a_fifo_is_one_line(tmp_path):
    from yololens.engine.matching import load_class_map

    os.mkfifo(tmp_path / "map.yaml")
    with pytest.raises(InputError, match="FIFO"):
        load_class_map(tmp_path / "map.yaml")


# ------------------------------------------------------------- run folders (R3-25 .. R3-31)


@pytest.mark.parametrize("damage", ["R3-25 objects missing", "R3-26 objects empty", "R3-27 objects a folder",
                                    "R3-28 run is a file", "R3-29 manifest null", "R3-30 manifest a string"])
def test_a_damaged_run_folder_is_one_line(damage, tmp_path):
    run = make_run(tmp_path / "run")
    objects = run / "objects.parquet"
    if "missing" in damage:
        objects.unlink()
    elif "empty" in damage:
        objects.write_bytes(b"")
    elif "a folder" in damage:
        objects.unlink()
        objects.mkdir()
    elif "a file" in damage:
        shutil.rmtree(run)
        run.write_text("not a run")
    else:
        (run / "manifest.json").write_text("null" if "null" in damage else '"x"')
    res = invoke(["plot", run, "--method", "pca", "--no-html", "--thumbnails", "2"])
    assert "Traceback" not in res.output
    if "manifest" in damage:
        assert "manifest.json" in one_error(res)
    else:
        one_error(res)


def test_R3_31_a_damaged_saved_projection_is_recomputed_or_one_line(tmp_path):
    run = make_run(tmp_path / "run")
    assert invoke(["project", run, "--method", "pca"]).exit_code == 0
    saved = next((run / "projections").glob("*.parquet"))
    saved.write_bytes(b"PAR1 garbage")
    res = invoke(["plot", run, "--method", "pca", "--no-html"])
    assert res.exit_code in (0, EXIT_FATAL) and "Traceback" not in res.output, res.output


# ------------------------------------------------------------- options (R3-32 .. R3-37)

OPTIONS = {
    "R3-32 max-categories 0": ["plot", "{run}", "--method", "pca", "--max-categories", "0"],
    "R3-33 hover-thumbnails -1": ["plot", "{run}", "--method", "pca", "--hover-thumbnails", "-1"],
    "R3-34 thumbnails -3": ["plot", "{run}", "--method", "pca", "--thumbnails", "-3"],
    "R3-35 perplexity 0": ["project", "{run}", "--perplexity", "0"],
    "R3-36 pca-dims -1": ["project", "{run}", "--pca-dims", "-1"],
    "R3-37 folds 1": ["stages", "{run}", "--folds", "1"],
}


@pytest.mark.parametrize("args", OPTIONS.values(), ids=OPTIONS.keys())
def test_out_of_range_options_are_one_line(args, run):
    one_error(invoke([a.format(run=run) for a in args]))


# ------------------------------------------------------------- models (R3-38 .. R3-41)


@pytest.mark.parametrize("kind", ["R3-38 folder", "R3-39 FIFO", "R3-40 /dev/zero", "R3-41 zip of junk"])
def test_a_model_path_that_is_no_checkpoint_is_one_line_and_never_hangs(kind, tmp_path):
    model = tmp_path / "m.pt"
    if "folder" in kind:
        model.mkdir()
    elif "FIFO" in kind:
        os.mkfifo(model)
    elif "zero" in kind:
        model.symlink_to("/dev/zero")
    else:
        import zipfile

        with zipfile.ZipFile(model, "w") as z:
            z.writestr("archive/data.pkl", b"junk")
    code = "import sys; from yololens.cli.app import main; sys.argv = ['yololens'] + sys.argv[1:]; main()"
    proc = subprocess.run([sys.executable, "-c", code, "layers", str(model)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("error: ")]
    assert proc.returncode == EXIT_FATAL and len(lines) == 1 and "m.pt" in lines[0], proc.stderr[-1500:]


# ------------------------------------------------------------- filesystem, concurrency, signals (R3-42 .. R3-45)


def test_R3_42_out_inside_source_is_left_out_of_the_listing(tmp_path):
    from yololens.sources.resolve import open_source

    source = image_dir(tmp_path / "src", ("a.jpg", "b.jpg"))
    image_dir(source / "out" / "crops", ("c.jpg",))
    src = open_source(source, exclude=[source / "out"])
    assert sorted(r.name for r in src.records) == ["a.jpg", "b.jpg"]


def test_R3_43_a_symlinked_out_that_is_the_source_is_refused(tmp_path):
    source = image_dir(tmp_path / "src")
    (tmp_path / "link").symlink_to(source)
    res = invoke(["extract", "-m", SEG_YAML, "-s", source, "--out", tmp_path / "link", "--imgsz", "64",
                  "--no-progress"])
    assert "--source" in one_error(res)


def test_R3_44_two_plots_of_one_run_at_once_both_finish_with_whole_files(tmp_path):
    run = make_run(tmp_path / "run")
    code = "import sys; from yololens.cli.app import main; sys.argv = ['yololens'] + sys.argv[1:]; main()"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", code, "plot", str(run), "--method", "pca", "--color", color],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
             for color in ("class_name", "status")]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    from PIL import Image

    for png in (run / "figures").glob("*.png"):
        Image.open(png).verify()
    assert not list(run.rglob(".*.tmp*"))


def test_R3_45_sigterm_during_plot_exits_143_and_leaves_no_temp_files(tmp_path):
    import select
    import signal
    import time

    run = make_run(tmp_path / "run", n=3000)
    code = "import sys; from yololens.cli.app import main; sys.argv = ['yololens'] + sys.argv[1:]; main()"
    proc = subprocess.Popen([sys.executable, "-c", code, "plot", str(run), "--method", "tsne", "--n-iter", "5000"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    seen, deadline = b"", time.monotonic() + 180
    while b"t-SNE" not in seen and proc.poll() is None and time.monotonic() < deadline:  # signal it mid-t-SNE
        if select.select([proc.stdout], [], [], 1.0)[0]:
            seen += os.read(proc.stdout.fileno(), 65536)
    proc.send_signal(signal.SIGTERM)
    out = (seen + proc.communicate(timeout=60)[0]).decode(errors="replace")
    assert proc.returncode == 143, out[-1500:]
    assert not list(run.rglob(".*.tmp*"))


# ------------------------------------------------------------- HTML payloads in Chromium (R3-46, R3-47)

PAYLOAD_CLASS = "<img src=x onerror=\"window.__pwned=1\">"
PAYLOAD_KEY = "attr_<svg onload=window.__pwned=2>"


def test_R3_46_47_payloads_in_class_names_and_attribute_keys_never_run_in_the_browser(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on PATH")
    from yololens.jobs.plot import plot

    run = make_run(tmp_path / "run", {PAYLOAD_KEY: ["<b>x</b>", "<script>window.__pwned=3</script>"] * 20})
    table = pq.read_table(run / "objects.parquet")
    names = table.column("class_name").to_pylist()
    names[0] = PAYLOAD_CLASS
    table = table.set_column(table.schema.get_field_index("class_name"), "class_name", pa.array(names))
    pq.write_table(table, run / "objects.parquet")
    html = plot(run, method="pca", color=PAYLOAD_KEY).paths["html"]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route("http*://**", lambda route: route.abort())
        page.goto(Path(html).as_uri())
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length", timeout=60_000)
        page.wait_for_timeout(1000)
        pwned = page.evaluate("() => window.__pwned")
        browser.close()
    assert pwned is None and not errors
