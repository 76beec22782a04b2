"""`suspects` on real extracts: augmented video frames built from the BDD frame and COCO sample of ../shared,
extracted with the real yolov8n-coco weights (--boxes both), and the report section."""

from __future__ import annotations

import pandas as pd
import pytest
from suspects_fixtures import build_augmented_videos, shared_sources

import yololens

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def video_run(shared_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("suspects_videos")
    images, labels = build_augmented_videos(shared_sources(shared_dir), root, copies=3)
    out = root / "run"
    yololens.extract(str(shared_dir / "models" / "yolov8n-coco.pt"), str(images), str(labels), out=out,
                     boxes="both", progress=False, layers="9,15")
    return out


def test_video_frames_exclude_the_own_video_and_image_grouping_leaks(video_run):
    by_video = yololens.suspects(video_run, inject_noise=0.2, seed=0, n_boot=50, save=False)
    assert by_video.grouping.startswith("neighbours from other videos")
    by_image = yololens.suspects(video_run, inject_noise=0.2, seed=0, n_boot=50, group_by="image", save=False)
    ev_v = by_video.evaluation.set_index(["noise", "ranking"])
    ev_i = by_image.evaluation.set_index(["noise", "ranking"])
    # 3 frames of each source image: with only the image excluded, the flipped object's own copies in the other
    # frames (correctly labelled) expose it; across videos, the sources share few classes
    assert ev_i.loc[("uniform", "L9"), "precision_at_k"] > 0.7
    assert ev_i.loc[("uniform", "L9"), "precision_at_k"] > ev_v.loc[("uniform", "L9"), "precision_at_k"] + 0.3
    # classes living in one video (COCO's orange, BDD's traffic light) cannot be judged across videos
    assert by_video.unscored["L9"] > by_image.unscored["L9"]
    kinds = set(by_video.table.loc[by_video.table["layer"] == "detector", "kind"])
    assert kinds and kinds <= {"swap", "missing", "box"}


def test_csv_names_real_images(video_run):
    rep = yololens.suspects(video_run, layer="15", top=5)
    csv = pd.read_csv(rep.paths["csv"])
    assert (csv["layer"].iloc[:5] == "L15").all()
    images = video_run.parent / "images"  # the image key is relative to the source folder
    assert len(csv) > 5 and all((images / name).is_file() for name in csv["image"])
    assert {"x1", "y1", "x2", "y2", "suggested", "score"} <= set(csv.columns)


def test_report_section_shows_crops_and_escapes_labels(shared_dir, tmp_path):
    sources = shared_sources(shared_dir)
    name, path, labs = sources[0]
    sources[0] = (name, path, [("car<script>x</script>" if c == "car" else c, b) for c, b in labs])
    images, labels = build_augmented_videos(sources, tmp_path / "fx", copies=2)
    res = yololens.build_report(str(shared_dir / "models" / "yolov8n-coco.pt"), str(images), str(labels),
                                out=tmp_path / "report", sections=("projection", "suspects"), progress=False)
    html = (tmp_path / "report" / "index.html").read_text()
    sec = res.sections["suspects"]
    assert str(sec.status) == "ok", sec.note
    assert 'id="suspects-crops"' in html and html.count('class="suspect"') == min(20, len(sec.data["rows"]))
    assert "<script>x</script>" not in html and "car&lt;script&gt;" in html
    assert all((tmp_path / "report" / r["crop"]).is_file() for r in sec.data["rows"] if r["crop"])
    assert (tmp_path / "report" / sec.data["eval_csv"]).is_file()
    # the suspects ran before the 2-D maps: the report's explorer ranks them in its "Suspects" panel too
    script = res.sections["projection"].data["script"]
    assert "Ranked by suspect_score: labels by neighbour disagreement at L" in script
    assert "n__suspect_score" in script and "<script>x</script>" not in script


def test_report_section_leaves_the_injected_check_out_above_its_cap(video_run, tmp_path, monkeypatch):
    # the validation keeps every stage's neighbours and embeddings in memory: above VALIDATE_MAX labelled objects
    # the report ranks the labels, says plainly that it did not validate, and names the command that does
    import shutil

    from yololens.report.context import EXTRACT_DIR, Context, ReportOptions
    from yololens.report.sections import suspects as section
    from yololens.types import BoxMode

    shutil.copytree(video_run, tmp_path / EXTRACT_DIR)
    ctx = Context(out=tmp_path, model=None, opts=ReportOptions(), boxes=BoxMode.BOTH, extract=object(), n_objects=1)
    n_gt = int(pd.read_parquet(video_run / "objects.parquet", columns=["origin"])["origin"].eq("gt").sum())
    monkeypatch.setattr(section, "VALIDATE_MAX", n_gt - 1)
    capped = section.run_suspects(ctx)
    assert capped.data["angle"] == [] and capped.data["answer"] is None and capped.data["eval_csv"] is None
    assert capped.data["unvalidated"].startswith(f"{n_gt:,} labelled objects")
    assert "--inject-noise" not in capped.command
    assert len(capped.data["rows"]) == 20
    from yololens.report.render import environment

    page = environment().get_template("sections/suspects.html.j2").render(s=capped, untrained=False)
    assert 'id="suspects-unvalidated"' in page and "flipped on purpose" not in page and "suspects-table" not in page
    from yololens.report.context import Section
    from yololens.types import SectionStatus

    skipped = Section(key="suspects", title="t", status=SectionStatus.SKIPPED, note="no labels")
    page = environment().get_template("sections/suspects.html.j2").render(s=skipped, untrained=False)
    assert "no labels" in page and "10% of the labels were flipped" in page  # a skipped section has no data
    monkeypatch.setattr(section, "VALIDATE_MAX", n_gt)
    validated = section.run_suspects(ctx)
    assert validated.data["unvalidated"] is None and validated.data["angle"]
    assert "--inject-noise 0.1" in validated.command
    assert [r["object_id"] for r in validated.data["rows"]] != [] and validated.data["answer"]
