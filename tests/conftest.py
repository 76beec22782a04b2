"""Shared fixtures. Tests that need ../shared (real weights, BDD frames) skip with a reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]


def _shared_dir() -> Path | None:
    env = os.environ.get("YOLOLENS_SHARED")
    for candidate in ([Path(env)] if env else []) + [ROOT.parent / "shared"]:
        if (candidate / "models").is_dir():
            return candidate
    return None


SHARED = _shared_dir()


def _need(rel: str) -> Path:
    if SHARED is None:
        pytest.skip("../shared not found (set YOLOLENS_SHARED): real weights/data unavailable")
    path = SHARED / rel
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _need(".")


@pytest.fixture(scope="session")
def seg_weights() -> Path:
    """Real COCO-trained YOLOv8n-seg checkpoint."""
    return _need("models/yolov8n-seg-coco.pt")


@pytest.fixture(scope="session")
def det_weights() -> Path:
    """Real COCO-trained YOLOv8n detect checkpoint."""
    return _need("models/yolov8n-coco.pt")


@pytest.fixture(scope="session")
def bdd_detect() -> Path:
    """BDD100K detection sample: images/ and labels/annotation.json (1 frame, 10 boxes)."""
    return _need("data/bdd100k_sample/detect")


@pytest.fixture(scope="session")
def seed_coco_images() -> Path:
    return _need("data/seed_coco_images")


@pytest.fixture(scope="session")
def assets() -> Path:
    """Ultralytics' bundled images (bus.jpg, zidane.jpg)."""
    from ultralytics.utils import ASSETS

    return Path(ASSETS)


@pytest.fixture(autouse=True, scope="session")
def _backend_env(tmp_path_factory):
    """A private export cache for the session (never the user's), and ``auto`` -> torch.

    The suite's exactness tests pin the bitwise torch path (Ultralytics predict); OpenVINO is
    tested where a test asks for it (``backend="openvino"``, tests/test_backends*.py).
    """
    saved = {k: os.environ.get(k) for k in ("YOLOLENS_CACHE", "YOLOLENS_BACKEND")}
    os.environ["YOLOLENS_CACHE"] = str(tmp_path_factory.mktemp("yololens-cache"))
    os.environ["YOLOLENS_BACKEND"] = "torch"
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory) -> Path:
    """A run folder with a synthetic objects table: 240 objects on 5 images, emb_L9 (16), emb_L15 (32) and
    emb_coef (32, predictions only), status, score and attr_* columns (analysis.synthetic.make_objects_table)."""
    from yololens.analysis.synthetic import make_objects_table

    d = tmp_path_factory.mktemp("synthetic_run")
    make_objects_table(d, 240, n_images=5, seed=4, coef=True)
    return d
