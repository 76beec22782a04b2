"""CLI consistency (issue 22, item 9): `layers --model`, no `<bool>` on flags, a rerun that does nothing says
so with its counts, and a finished run leaves no `.yololens.lock`."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from yololens.cli.app import app

COMMANDS = ["layers", "extract", "maps", "project", "plot", "stages", "protos", "coefficients", "report", "demo",
            "export tensorboard", "export fiftyone"]


def invoke(args: list):
    return CliRunner().invoke(app, [str(a) for a in args], terminal_width=100)


def test_layers_takes_the_model_as_an_option_or_an_argument():
    pos, opt, short = (invoke(a) for a in (["layers", "yolov8n.yaml"], ["layers", "--model", "yolov8n.yaml"],
                                           ["layers", "-m", "yolov8n.yaml"]))
    assert pos.exit_code == opt.exit_code == short.exit_code == 0, opt.output
    assert pos.output == opt.output == short.output and "sppf" in pos.output
    none = invoke(["layers"])
    assert none.exit_code == 2 and none.output.strip().startswith("error: no model")
    two = invoke(["layers", "yolov8n.yaml", "-m", "yolov8s.yaml"])
    assert two.exit_code == 2 and "two models given" in two.output


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_no_type_on_flags(command):
    res = invoke([*command.split(), "--help"])
    assert res.exit_code == 0 and "--help" in res.output
    assert "<bool>" not in res.output and "BOOLEAN" not in res.output


def test_root_help_shows_no_type_on_flags():
    res = invoke(["--help"])
    assert res.exit_code == 0 and "--version" in res.output and "<bool>" not in res.output


def test_a_rerun_that_does_nothing_says_so_and_no_lock_stays(tmp_path, assets, det_weights):
    from yololens.jobs.extract import ExtractCounts

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(assets / "bus.jpg", src / "a.jpg")
    out = tmp_path / "out"
    args = ["extract", "-m", det_weights, "-s", src, "--out", out, "--imgsz", "160", "--layers", "9", "--no-progress"]
    first = invoke(args)
    assert first.exit_code == 0, first.output
    assert not (out / ".yololens.lock").exists()
    import pyarrow.parquet as pq

    n = pq.read_metadata(out / "objects.parquet").num_rows
    again = invoke(args)
    assert again.exit_code == 0, again.output
    s = "s" if n != 1 else ""
    assert again.output.startswith(f"extract: nothing to do: {n} object{s} from 1 image already done")
    assert not (out / ".yololens.lock").exists()
    assert ExtractCounts(images_resumed=1, objects_total=12).nothing_to_do() == \
        "nothing to do: 12 objects from 1 image already done"
    assert ExtractCounts(images_resumed=1, images_processed=1, objects_total=12).nothing_to_do() is None


def test_extract_help_is_grouped_and_short():
    res = invoke(["extract", "--help"])
    panels = [ln.split("─ ")[1].split(" ─")[0] for ln in res.output.splitlines() if ln.startswith("╭─ ")]
    assert panels == ["Options", "Input and output", "Model and pooling", "Compute", "Run"]
    wide = CliRunner().invoke(app, ["extract", "--help"], env={"COLUMNS": "140"})
    assert len(wide.output.splitlines()) <= 90  # was 91 at this width before grouping and trimming (issue 22)


def test_tsne_bars_name_the_stage_and_advance():
    from yololens.analysis.large_n import KL_EVERY, TSNEProgress

    bar = TSNEProgress(100, 54, "L15")
    assert bar.bar.desc == "t-SNE L15, 54 points"
    bar(KL_EVERY, 1.0, None)
    assert bar.bar.n == KL_EVERY  # moves at every check, not only at the end
    bar.close(60)
    assert bar.bar.n == bar.bar.total == 60
