"""Issue #6, parts 2 and 4: SIGKILL / SIGINT at random points, resume, and two runs on one OUT.

Real subprocesses (``python -m yololens.cli.app``) on 50 images. After every kill each file in OUT must
open (Parquet, JSON, JPEG); the rerun must give a table row-for-row and bit-for-bit identical to an
uninterrupted run's, with no duplicates or gaps. Kill points come from a seeded RNG.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from reliability_corpus import build_many
from yololens.cli.common import EXIT_INTERRUPTED, EXIT_LOCKED, EXIT_OK, EXIT_TERMINATED
from yololens.store.atomic import _TEMP_NAME
from yololens.store.table import ResumableTable

pytestmark = pytest.mark.reliability

N_IMAGES = 50
WINDOW = 2  # 25 durable parts: kills land between, inside and across windows
ARGS = ["--imgsz", "160", "--layers", "9,15", "--batch", "4", "--window", str(WINDOW), "--workers", "1",
        "--crops", "--crop-size", "32", "--no-progress"]
SEED = 6  # issue number
KILLS = 5
TIMEOUT = 180


# The runs under test are real CLI processes. Each forward pass is made to take at least PACE_S, so that
# on a fast (quiet) machine a run still lasts several seconds and a kill "after the k-th part" lands mid-run
# instead of after the run already finished. Only timing changes; outputs are untouched.
PACE_S = 0.15
PACED = ("import sys, time; import yololens.engine.runner as r; run = r.Runner.run; "
         f"r.Runner.run = lambda self, images: (time.sleep({PACE_S}), run(self, images))[1]; ")


def cli(*args) -> list[str]:
    main = PACED + "from yololens.cli.app import main; sys.argv[0] = 'yololens'; main()"
    return [sys.executable, "-c", main, *map(str, args)]


def kill_mid_run(proc: subprocess.Popen, mode: str, parts_written, delay: float, rng: random.Random,
                 log: Path) -> None:
    """SIGKILL ``proc`` once ``parts_written()`` (mode "parts") or after ``delay`` s (mode "startup")."""
    t0 = time.monotonic()
    while proc.poll() is None and time.monotonic() - t0 < TIMEOUT:
        if mode == "parts" and parts_written():
            time.sleep(rng.uniform(0, 0.05))  # land inside the next window, not just after a part
            break
        if mode == "startup" and time.monotonic() - t0 >= delay:
            break
        time.sleep(0.01)
    assert proc.poll() is None, f"run finished before the kill ({mode}): {log.read_text()[-2000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    fh = open(log, "wb")
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    fh.close()
    return proc


def parts_of(out: Path, table: str = "objects.parquet") -> list[Path]:
    d = out / ".parts" / table
    return sorted(p for p in d.glob("part-*.parquet")) if d.is_dir() else []


def assert_every_file_opens(out: Path) -> int:
    """Every file in OUT parses; half-written temp files are allowed only under their temp names.

    Returns how many temp files were seen.
    """
    temps = 0
    for path in out.rglob("*"):
        if path.is_dir():
            continue
        if _TEMP_NAME.match(path.name):
            temps += 1
        elif path.suffix == ".parquet":
            pq.read_table(path)
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".csv":
            pacsv.read_csv(path)
        elif path.suffix == ".jpg":
            assert cv2.imread(str(path)) is not None, path
        else:
            assert path.name == ".yololens.lock", path
    return temps


def assert_same_table(got: Path, want: Path, key: str = "object_id") -> None:
    a, b = pq.read_table(want), pq.read_table(got)
    assert b.schema.remove_metadata() == a.schema.remove_metadata()
    assert b.num_rows == a.num_rows
    if key == "object_id":
        ids = b.column("object_id").to_pylist()
        assert len(set(ids)) == len(ids) and ids == a.column("object_id").to_pylist()  # no duplicates/gaps, order
    assert b.equals(a)
    for name in a.column_names:
        if pa.types.is_fixed_size_list(a.schema.field(name).type):  # embeddings: compare the raw bytes
            raw_a = a.column(name).combine_chunks().values.to_numpy().tobytes()
            raw_b = b.column(name).combine_chunks().values.to_numpy().tobytes()
            assert raw_a == raw_b, name
        elif pa.types.is_floating(a.schema.field(name).type):
            assert a.column(name).to_numpy().tobytes() == b.column(name).to_numpy().tobytes(), name
    done_a = json.loads(pq.read_schema(want).metadata[b"yololens.done"])
    done_b = json.loads(pq.read_schema(got).metadata[b"yololens.done"])
    assert sorted(done_a) == sorted(done_b) and len(done_b) == len(set(done_b)) == N_IMAGES


def assert_same_crops(got: Path, want: Path) -> None:
    a = {p.name: p.read_bytes() for p in (want / "crops").iterdir()}
    b = {p.name: p.read_bytes() for p in (got / "crops").iterdir()}
    assert a == b


@pytest.fixture(scope="module")
def many(tmp_path_factory, assets, bdd_detect, det_weights):
    """50 uniquely named images, and two runs started at the same moment into one OUT.

    The winner's uninterrupted output is the reference the kill test compares against.
    """
    root = tmp_path_factory.mktemp("many")
    images = root / "images"
    build_many(images, assets, N_IMAGES, extra=sorted((bdd_detect / "images").glob("*.jpg")))
    ref = root / "reference"
    cmd = cli("extract", "-m", det_weights, "-s", images, "-o", ref, *ARGS)
    procs = [start(cmd, root / f"log{i}.txt") for i in range(2)]
    codes = [p.wait(timeout=TIMEOUT) for p in procs]
    logs = [(root / f"log{i}.txt").read_text() for i in range(2)]
    return {"images": images, "ref": ref, "model": det_weights, "codes": codes, "logs": logs,
            "pids": [p.pid for p in procs]}


def test_two_runs_started_together_do_not_interleave(many):
    codes, logs = many["codes"], many["logs"]
    assert sorted(codes) == [EXIT_OK, EXIT_LOCKED], logs
    loser = logs[codes.index(EXIT_LOCKED)]
    winner_pid = many["pids"][codes.index(EXIT_OK)]
    assert f"output directory is in use by pid {winner_pid}" in loser and "Traceback" not in loser, loser
    assert len([ln for ln in loser.splitlines() if ln.startswith("error: ")]) == 1, loser
    # the winner's table is whole: every image once, rows in source order, nothing from the loser
    table = pq.read_table(many["ref"] / "objects.parquet")
    names = sorted(p.name for p in many["images"].iterdir())
    done = json.loads(pq.read_schema(many["ref"] / "objects.parquet").metadata[b"yololens.done"])
    assert sorted(done) == names and len(done) == len(set(done))  # every image exactly once (BDD frames: no rows)
    assert set(table.column("image").to_pylist()) <= set(names)
    assert table.column("image_index").to_pylist() == sorted(table.column("image_index").to_pylist())
    assert len(set(table.column("object_id").to_pylist())) == table.num_rows
    manifest = json.loads((many["ref"] / "manifest.json").read_text())
    assert manifest["counts"]["images_processed"] == N_IMAGES and manifest["skipped"] == []
    assert assert_every_file_opens(many["ref"]) == 0 and not (many["ref"] / ".parts").exists()


def test_sigkill_at_random_points_then_resume(many, tmp_path):
    assert EXIT_OK in many["codes"], f"no uninterrupted reference run: {many['logs']}"
    rng = random.Random(SEED)
    out = tmp_path / "out"
    cmd = cli("extract", "-m", many["model"], "-s", many["images"], "-o", out, *ARGS)
    kills, temps_seen, log = [], 0, tmp_path / "log.txt"
    n_windows = -(-N_IMAGES // WINDOW)
    while len(kills) < KILLS:
        before = len(parts_of(out))
        # mostly after the k-th new part (mid-run), sometimes at a random moment of start-up
        mode = "startup" if rng.random() < 0.25 else "parts"
        target = before + rng.randint(1, 2)
        delay = rng.uniform(0.1, 1.5)
        assert target < n_windows, "the schedule must leave work for every kill"
        kill_mid_run(start(cmd, log), mode, lambda: len(parts_of(out)) >= target, delay, rng, log)
        kills.append((mode, len(parts_of(out))))
        temps_seen += assert_every_file_opens(out)
        assert not (out / "objects.parquet").exists()  # the final table appears only at the very end
    # Ctrl-C: a clean stop, exit 130, a message saying how to resume
    before = len(parts_of(out))
    proc = start(cmd, log)
    t0 = time.monotonic()
    while len(parts_of(out)) <= before and proc.poll() is None and time.monotonic() - t0 < TIMEOUT:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == EXIT_INTERRUPTED, log.read_text()[-2000:]
    text = log.read_text()
    assert "interrupted" in text and "rerun the same command to resume" in text and "Traceback" not in text
    assert_every_file_opens(out)
    # the rerun finishes the job
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == EXIT_OK, done.stderr
    assert "already done" in done.stdout
    assert [k for k in kills if k[0] == "parts"], kills  # the seeded schedule did kill mid-run
    assert_same_table(out / "objects.parquet", many["ref"] / "objects.parquet")
    assert_same_crops(out, many["ref"])
    assert not (out / ".parts").exists()
    assert assert_every_file_opens(out) == 0, "a finished run leaves no temp files"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["objects_total"] == pq.read_metadata(many["ref"] / "objects.parquet").num_rows
    print(f"kills: {kills}; temp files seen after kills: {temps_seen}")


def test_sigterm_stops_like_ctrl_c_and_resumes(many, tmp_path):
    """Issue 12, case 14: SIGTERM (kill, docker stop) prints the Ctrl-C line and exits 143; the rerun resumes."""
    out, log = tmp_path / "out", tmp_path / "log.txt"
    cmd = cli("extract", "-m", many["model"], "-s", many["images"], "-o", out, *ARGS)
    proc = start(cmd, log)
    t0 = time.monotonic()
    while not parts_of(out) and proc.poll() is None and time.monotonic() - t0 < TIMEOUT:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == EXIT_TERMINATED, log.read_text()[-2000:]
    text = log.read_text()
    assert "interrupted: finished work is saved; rerun the same command to resume" in text
    assert "Traceback" not in text and parts_of(out)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == EXIT_OK and "already done" in done.stdout, done.stderr
    assert_same_table(out / "objects.parquet", many["ref"] / "objects.parquet")
    assert_same_crops(out, many["ref"])


COEF_TABLE = ".mask_coefficients.csv.parquet"  # the Parquet store behind the CSV
COEF_ARGS = ["--all", "--imgsz", "160", "--batch", "4", "--workers", "1", "--no-mask-area", "--no-progress"]
COEF_WINDOW = 8
def coef_cli(*args) -> list[str]:
    return cli("coefficients", *args, "--window", COEF_WINDOW)


def test_coefficients_all_survives_sigkill(many, seg_weights, tmp_path):
    """`coefficients --all`, 8-image windows (7 parts for 50 images)."""
    ref = tmp_path / "ref"
    done = subprocess.run(coef_cli("-m", seg_weights, "-s", many["images"], "-o", ref, *COEF_ARGS),
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == EXIT_OK, done.stderr
    rng = random.Random(SEED + 1)
    out = tmp_path / "out"
    cmd = coef_cli("-m", seg_weights, "-s", many["images"], "-o", out, *COEF_ARGS)
    log = tmp_path / "log.txt"
    kills = []
    for mode in ["startup", "parts", "startup", "parts", "parts"]:  # 3 part kills leave 4 windows to do
        before = len(parts_of(out, COEF_TABLE))
        delay = rng.uniform(0.1, 1.5)
        kill_mid_run(start(cmd, log), mode, lambda: len(parts_of(out, COEF_TABLE)) > before, delay, rng, log)
        kills.append((mode, len(parts_of(out, COEF_TABLE))))
        assert_every_file_opens(out)
        assert not (out / "mask_coefficients.csv").exists()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == EXIT_OK, done.stderr
    assert [k for k in kills if k[0] == "parts" and k[1] > 0], kills
    assert (out / "mask_coefficients.csv").read_bytes() == (ref / "mask_coefficients.csv").read_bytes()
    assert_same_table(out / COEF_TABLE, ref / COEF_TABLE, key="image_name")
    assert assert_every_file_opens(out) == 0 and not (out / ".parts").exists()
    print(f"coefficients kills: {kills}")


# ------------------------------------------------------------------------------------ store level


def _part(keys: list[str]) -> pa.Table:
    return pa.table({"image": keys, "v": [float(len(k)) for k in keys]})


def test_kill_between_final_rename_and_part_cleanup_gives_no_duplicates(tmp_path):
    """finalize() renames the final file, then deletes the parts; a kill in between left parts that a rerun
    merged a second time (duplicate rows) before the fix."""
    table = ResumableTable(tmp_path / "objects.parquet", key_column="image")
    table.write_part(_part(["a", "b"]), ["a", "b"], 0)
    table.write_part(_part(["c"]), ["c"], 2)
    saved = {p: p.read_bytes() for p in table._parts()}
    table.finalize()
    for path, data in saved.items():  # as if killed right after os.replace()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert table.done_keys() == {"a", "b", "c"}
    table.finalize()
    assert pq.read_table(table.path).column("image").to_pylist() == ["a", "b", "c"]
    assert not table._parts()
    # a part that is partly new keeps only its new images' rows
    table.write_part(_part(["c", "d"]), ["c", "d"], 2)
    table.finalize()
    assert pq.read_table(table.path).column("image").to_pylist() == ["a", "b", "c", "d"]


def test_stale_temp_files_are_removed_under_the_lock(tmp_path, assets, det_weights):
    from yololens.jobs.extract import extract
    from yololens.store.atomic import remove_stale_temps

    (tmp_path / ".parts" / "objects.parquet").mkdir(parents=True)
    junk = [tmp_path / ".objects.ab12cd34.tmp.parquet", tmp_path / ".parts" / "objects.parquet" /
            ".part-000000000000-1-000001.zz99yy88.tmp.parquet", tmp_path / ".manifest.q1w2e3r4.tmp.json"]
    for path in junk:
        path.write_bytes(b"PAR1 half written")
    keep = tmp_path / "notes.tmp.txt"
    keep.write_text("user file")
    assert remove_stale_temps(tmp_path / "missing") == 0
    extract(str(det_weights), str(assets / "bus.jpg"), out=tmp_path, imgsz=160, layers=[9], progress=False)
    assert not any(p.exists() for p in junk) and keep.exists()
    keep.unlink()
    assert assert_every_file_opens(tmp_path) == 0
