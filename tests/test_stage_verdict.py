"""The stage verdict: one sentence, the same in every view; stage names with their role; too little data is one
line and exit 1 (issue 20 item 1)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner
from video_frames import build_video_frames

from yololens.analysis.stage_text import best_per_metric, recommend
from yololens.analysis.verdict import not_enough_line, role_columns, stage_roles, stage_verdict
from yololens.cli.app import app
from yololens.jobs.stages import stages

PARAMS = {"label": "class_name", "origin": "gt", "min_class_count": 5}


def _table(rows):
    cols = ["stage", "role", "n", "n_classes", "chance"]
    metrics = ["knn_acc", "probe_acc", "silhouette", "davies_bouldin"]
    out = []
    for r in rows:
        rec = dict(zip(cols, r[:5]))
        for m, (v, lo, hi) in zip(metrics, r[5:]):
            rec[m], rec[f"{m}_lo"], rec[f"{m}_hi"] = v, lo, hi
        out.append(rec)
    return pd.DataFrame(out)


CLEAR = _table([
    ("L9", "SPPF, backbone end, stride 32", 400, 4, 0.3, (0.79, 0.75, 0.83), (0.9, 0.88, 0.92), (0.30, 0.28, 0.32), (1.5, 1.4, 1.6)),
    ("L15", "P3 neck, stride 8", 400, 4, 0.3, (0.834, 0.79, 0.86), (0.8, 0.78, 0.82), (0.20, 0.18, 0.22), (1.2, 1.1, 1.3)),
    ("coef", "mask coefficients", 400, 4, 0.3, (0.60, 0.55, 0.65), (0.95, 0.93, 0.97), (0.10, 0.08, 0.12), (2.0, 1.9, 2.1)),
])


def test_clear_verdict_sentence():
    df = CLEAR.copy()
    df.loc[0, "knn_acc_hi"] = 0.78  # L9's interval ends below L15's
    v = stage_verdict(df)
    assert v.text == ("Verdict: use L15 (P3 neck, stride 8): k-NN 0.83 [0.79, 0.86], ahead of L9 by 0.04 "
                      "(intervals do not overlap)")
    assert v.best == "L15" and v.clear and v.tied == ("L15",)


def test_overlap_names_every_tied_stage_in_table_order():
    df = _table([
        ("L9", "", 100, 3, 0.4, (0.80, 0.74, 0.86), (0.8, 0.7, 0.9), (0.1, 0.0, 0.2), (1, 1, 1)),
        ("L15", "P3 neck, stride 8", 100, 3, 0.4, (0.83, 0.77, 0.88), (0.8, 0.7, 0.9), (0.1, 0.0, 0.2), (1, 1, 1)),
        ("L18", "", 100, 3, 0.4, (0.78, 0.72, 0.84), (0.8, 0.7, 0.9), (0.1, 0.0, 0.2), (1, 1, 1)),
        ("L21", "", 100, 3, 0.4, (0.50, 0.44, 0.56), (0.8, 0.7, 0.9), (0.1, 0.0, 0.2), (1, 1, 1)),
    ])
    v = stage_verdict(df)
    assert v.text == ("Verdict: no clear winner: L9, L15 and L18 overlap on k-NN (highest L15 (P3 neck, stride 8), "
                      "0.83 [0.77, 0.88])")
    assert v.tied == ("L9", "L15", "L18") and not v.clear and v.best == "L15"


def test_single_stage_and_chance_caution():
    df = CLEAR.iloc[[2]].reset_index(drop=True)
    df.loc[0, "chance"] = 0.6
    assert stage_verdict(df).text == ("Verdict: use coef (mask coefficients): k-NN 0.60 [0.55, 0.65] (the only stage "
                                      "scored); not clearly above chance (0.60)")


def test_details_name_the_stage_the_table_marks():
    """The old text said "linear probe prefers coef (the silhouette agrees)" while the table marked L9 best on
    silhouette: now each metric's first stage is named by the same rule as the table's bold."""
    verdict, details = recommend(CLEAR, PARAMS, {}, None)
    best = best_per_metric(CLEAR)
    stage_at = {m: CLEAR.iloc[p]["stage"] for m, p in best.items()}
    assert stage_at == {"knn_acc": "L15", "probe_acc": "coef", "silhouette": "L9", "davies_bouldin": "L15"}
    assert "First by the other metrics: linear-probe accuracy coef, silhouette L9, Davies-Bouldin L15 (as k-NN)." in details
    assert verdict.best == stage_at["knn_acc"]


def test_not_enough_line():
    line = not_enough_line({"traffic sign": 1, "car": 4, "traffic light": 5}, 5)
    assert line == ("not enough objects to compare stages: car 4, traffic light 5, traffic sign 1 "
                    "(need >= 5 in >= 2 classes)")


# -- on real weights ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bdd_run(det_weights, bdd_detect, tmp_path_factory):
    from yololens.jobs.extract import extract

    out = tmp_path_factory.mktemp("bdd_det")
    extract(str(det_weights), str(bdd_detect / "images"), labels=str(bdd_detect / "labels" / "annotation.json"),
            boxes="both", out=out, progress=False)
    return out


def test_roles_from_the_manifest(bdd_run):
    roles = stage_roles(bdd_run)
    assert roles["emb_L9"] == "SPPF, backbone end, stride 32"
    assert roles["emb_L15"] == "P3 neck, stride 8"
    assert roles["emb_L21"] == "P5 neck, stride 32"
    assert role_columns(bdd_run) == {"backbone": "emb_L9", "p3": "emb_L15", "p4": "emb_L18", "p5": "emb_L21"}


def test_one_real_frame_is_not_enough(bdd_run):
    """The one BDD frame: 4 cars, 5 traffic lights, 1 sign -> one line, exit 1, no chart; a stale chart goes."""
    (bdd_run / "stages.png").write_bytes(b"old")
    res = CliRunner().invoke(app, ["stages", str(bdd_run)])
    assert res.exit_code == 1, res.output
    assert res.output == ("not enough objects to compare stages: car 4, traffic light 5, traffic sign 1 "
                          "(need >= 5 in >= 2 classes)\n")
    assert not (bdd_run / "stages.png").exists()


def test_video_frames_verdict_everywhere(bdd_detect, det_weights, tmp_path):
    """Enough objects (4 videos x 3 frames of the real frame): the same sentence in the CLI's first line,
    stages.md, the notebook repr and the chart's title; stage names carry their role."""
    from yololens.jobs.extract import extract

    images, labels = build_video_frames(bdd_detect, tmp_path / "frames")
    out = tmp_path / "run"
    extract(str(det_weights), str(images), labels=str(labels), boxes="gt", out=out, progress=False)
    res = CliRunner().invoke(app, ["stages", str(out), "--bootstrap", "50"])
    assert res.exit_code == 0, res.output
    first = res.output.splitlines()[0]
    assert first.startswith("Verdict: ") and "k-NN" in first
    rep = stages(out, n_boot=50)
    assert rep.verdict.text == first
    md = (out / "stages.md").read_text().splitlines()
    assert md[2] == first and any(r.startswith("| L15 (P3 neck, stride 8) |") for r in md)
    assert rep._repr_html_().count(first) == 1 and first in repr(rep)
    assert list(rep.table["role"]) == ["SPPF, backbone end, stride 32", "P3 neck, stride 8", "P4 neck, stride 16",
                                       "P5 neck, stride 32"]
    csv = pd.read_csv(out / "stages.csv")
    assert stage_verdict(csv).text == first  # the sentence follows from the table written
    from yololens.figures.stage_chart import stage_chart

    fig = stage_chart(rep.table, rep.params, rep.verdict)
    assert fig._suptitle.get_text().replace("\n", " ").startswith(first)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["L9\nbackbone · s32", "L15\nP3 · s8", "L18\nP4 · s16", "L21\nP5 · s32"]
    bold = [t.get_text().split("\n")[0] for t in fig.axes[0].get_xticklabels() if t.get_fontweight() == "bold"]
    assert bold == [rep.verdict.best]
    import matplotlib.pyplot as plt

    plt.close(fig)
    assert json.loads((out / "manifest.json").read_text())["layers"][0]["stride"] == 32


def test_chart_title_mark_and_trust_axis():
    """The verdict is the title, one stage is marked, and trustworthiness 0.898-0.925 is drawn on 0.5-1 (not
    stretched over the panel)."""
    import matplotlib.pyplot as plt

    from yololens.figures.stage_chart import stage_chart

    df = CLEAR.copy()
    df["trust_tsne"] = [0.898, 0.925, 0.91]
    v = stage_verdict(df)
    fig = stage_chart(df, {"label": "class_name", "origin": "gt", "n_folds": 5}, v)
    assert fig._suptitle.get_text().startswith(v.text[:60])
    trust_ax = next(ax for ax in fig.axes if ax.get_title().startswith("trustworthiness"))
    lo, hi = trust_ax.get_ylim()
    assert lo <= 0.5 and hi >= 1.0
    marked = [p for p in fig.axes[0].patches]  # the one shaded band
    assert len(marked) == 1
    plt.close(fig)


def test_report_skips_the_stage_section_with_the_line(det_weights, bdd_detect, tmp_path):
    """The report on the one BDD frame: the stage section is 'skipped' with the same line (not 'ok'); the
    similarity section still answers (10 gt objects)."""
    from yololens.report import build_report

    res = build_report(str(det_weights), str(bdd_detect / "images"), str(bdd_detect / "labels" / "annotation.json"),
                       out=tmp_path / "r", progress=False, sections=("stages", "similarity"))
    line = "not enough objects to compare stages: car 4, traffic light 5, traffic sign 1 (need >= 5 in >= 2 classes)"
    assert res.sections["stages"].status == "skipped" and res.sections["stages"].note == line
    assert res.sections["similarity"].status == "ok"
    html = res.index.read_text()
    import html as h

    assert f"Skipped: {h.escape(line, quote=False)}." in html and 'id="stages-table"' not in html
