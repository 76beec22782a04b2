"""``executor="ray"``: equal to the local executor, a killed worker retried, resume across executors.

A local Ray (``ray.init(num_cpus=2)``, no dashboard) is started here; nothing leaves this machine. Both
executors run at ``threads=1``: torch's float reductions depend on the thread count, and a Ray worker with one
CPU computes on one thread.
"""

from __future__ import annotations

import threading
import time

import pyarrow.parquet as pq
import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'yololens[ray]')")
psutil = pytest.importorskip("psutil", reason="psutil (a ray dependency) is needed to kill a worker")

from yololens.jobs.extract import extract  # noqa: E402

RUN = dict(imgsz=320, batch=2, window=2, backend="torch", threads=1, progress=False, layers=[9, 15])


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def images(tmp_path_factory, seed_coco_images):
    listed = sorted(p for p in seed_coco_images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:8]
    path = tmp_path_factory.mktemp("src") / "list.txt"
    path.write_text("\n".join(map(str, listed)))
    return path


@pytest.fixture(scope="module")
def local(tmp_path_factory, images, det_weights):
    return extract(det_weights, images, out=tmp_path_factory.mktemp("local"), **RUN)


def _rows(res) -> pq.lib.Table:
    return pq.read_table(res.table_path if hasattr(res, "table_path") else res).replace_schema_metadata(None)


def test_ray_equals_local(cluster, local, images, det_weights, tmp_path):
    res = extract(det_weights, images, out=tmp_path, executor="ray", **RUN)
    assert local.counts.objects_total > 0 and res.counts.images_processed == 8
    assert _rows(res).equals(_rows(local))  # same rows, same order, embeddings bit-equal
    assert res.manifest["counts"]["objects_total"] == local.counts.objects_total
    assert res.manifest["layers"] == local.manifest["layers"]
    assert not (tmp_path / ".parts").exists() and not list(tmp_path.glob(".yololens-ray-*"))


def _window_actors() -> list:
    return [p for p in psutil.process_iter(["cmdline"]) if any("_WindowActor" in c for c in (p.info["cmdline"] or []))]


def test_killed_worker_is_retried(cluster, local, images, det_weights, tmp_path):
    """SIGKILL one worker process once the first window's part is on disk: its window is run again (by the
    restarted actor), and the final table has every row exactly once."""
    killed: list[int] = []

    def killer():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            parts = list((tmp_path / ".parts").glob("**/part-*.parquet")) if (tmp_path / ".parts").exists() else []
            actors = _window_actors()
            if parts and actors:
                actors[0].kill()
                killed.append(actors[0].pid)
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    res = extract(det_weights, images, out=tmp_path, executor="ray", **RUN)
    thread.join(5)
    assert killed, "no worker was killed: the test did not exercise a retry"
    assert _rows(res).equals(_rows(local))
    ids = res.table(["object_id"]).column("object_id").to_pylist()
    assert len(ids) == len(set(ids))


class _Stop(Exception):
    pass


def test_resume_across_executors(cluster, local, images, det_weights, tmp_path, monkeypatch):
    """A local run stopped after two windows resumes on Ray, and a Ray run stopped after one window resumes
    locally; both finish with the uninterrupted local table."""
    import yololens.jobs.extract_windows as ew
    import yololens.engine.ray_executor as rx

    flush = ew.ExtractWindows._flush
    calls = []

    def stop_after_two(self, *a, **k):
        if len(calls) == 2:
            raise _Stop()
        calls.append(1)
        return flush(self, *a, **k)

    monkeypatch.setattr(ew.ExtractWindows, "_flush", stop_after_two)
    with pytest.raises(_Stop):
        extract(det_weights, images, out=tmp_path / "a", **RUN)
    monkeypatch.setattr(ew.ExtractWindows, "_flush", flush)
    res = extract(det_weights, images, out=tmp_path / "a", executor="ray", **RUN)
    assert res.counts.images_resumed == 4 and res.counts.images_processed == 4
    assert _rows(res).equals(_rows(local))

    drive = rx._drive

    def stop_after_one(*a, **k):
        for outcome in drive(*a, **k):
            yield outcome
            raise _Stop()

    monkeypatch.setattr(rx, "_drive", stop_after_one)
    with pytest.raises(_Stop):
        extract(det_weights, images, out=tmp_path / "b", executor="ray", **RUN)
    monkeypatch.setattr(rx, "_drive", drive)
    res = extract(det_weights, images, out=tmp_path / "b", **RUN)
    assert 1 <= res.counts.images_resumed < 8 and res.counts.images_resumed + res.counts.images_processed == 8
    assert _rows(res).equals(_rows(local))


def test_coefficients_on_ray_equal_local(cluster, images, seg_weights, tmp_path):
    """The coefficient table (and its ablation part, with the report) from Ray workers equals the local one."""
    from yololens.jobs.coefficients import coefficients

    run = dict(table="c.parquet", imgsz=320, batch=2, window=2, backend="torch", threads=1, progress=False)
    a = coefficients(seg_weights, images, tmp_path / "local", **run)
    b = coefficients(seg_weights, images, tmp_path / "ray", executor="ray", **run)
    assert a.instances > 0 and (b.images, b.instances) == (a.images, a.instances) == (8, a.instances)
    assert _rows(b.table).equals(_rows(a.table))


def test_worker_that_cannot_see_out_says_so(tmp_path):
    """The shared-OUT check: an actor whose filesystem lacks the driver's probe file refuses in one line."""
    from yololens.errors import InputError
    from yololens.engine.ray_executor import _WindowActor

    with pytest.raises(InputError, match="cannot see OUT; --executor ray needs OUT on a filesystem all nodes share"):
        _WindowActor(lambda: None, str(tmp_path / "out" / ".yololens-ray-x"))


def test_unknown_executor_is_one_line(tmp_path, det_weights, images):
    from yololens.errors import InputError

    with pytest.raises(InputError, match="--executor must be local or ray, not 'dask'"):
        extract(det_weights, images, out=tmp_path, executor="dask", **RUN)
