"""The explorer's "Suspects" panel, Python side: which stage ranks, which rows are listed, what the page carries
(with suspects.parquet and without), and hostile labels never reach the HTML as markup. In Chromium:
tests/test_suspects_explorer_browser.py."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from yololens.analysis.suspect_columns import PRIMARY_KEY, SUSPECTS_FILE, page_suspects, ranking_stage
from yololens.analysis.synthetic import make_objects_table
from yololens.figures.suspects_panel import SHOWN, ranked_rows
from yololens.jobs.plot import plot

N = 60
HOSTILE_LABEL = '<img src=x onerror="window.__pwned=1">'
HOSTILE_SUGGESTION = "<script>window.__pwned=2</script>"


def suspect_run(out, n: int = N, seed: int = 2) -> pd.DataFrame:
    """A synthetic run with a hand-written ``suspects.parquet`` (primary stage L9; L15 rows too): every gt object
    scored at both stages with distinct scores (L15: the top one carries a hostile label and suggestion; some
    with score >= 0.5 have margin >= 0, one score is NaN), plus one detector ``missing`` row for a prediction.
    Returns the L15 rows plus the detector row (what a page drawn at L15 ranks)."""
    make_objects_table(out, n, n_images=3, seed=seed)
    t = pq.read_table(out / "objects.parquet")
    df = t.to_pandas()
    gt = df.index[df.origin == "gt"].to_numpy()
    names = df.class_name.astype(object).to_numpy().copy()
    names[gt[0]] = HOSTILE_LABEL  # the top suspect's given label (labels are data)
    t = t.set_column(t.schema.get_field_index("class_name"), "class_name", pa.array(names, pa.string()))
    pq.write_table(t, out / "objects.parquet")
    rng = np.random.default_rng(seed)
    score = rng.permutation(len(gt)) / len(gt) * 0.98  # distinct, below the top one
    score[0] = 0.99
    score[5] = np.nan  # an unscored label
    margin = np.where(np.arange(len(gt)) % 3 == 0, 0.1, -score)  # every third: neighbours agree (not a suspect)
    margin[0] = -0.9
    suggested = np.array([f"class_{i % 4}" for i in range(len(gt))], object)
    suggested[0] = HOSTILE_SUGGESTION
    oid = df.object_id.to_numpy(object).copy()
    l15 = pd.DataFrame({"object_id": oid[gt], "layer": "L15", "score": score, "label": names[gt],
                        "suggested": suggested, "margin": margin, "kind": "class"})
    l9 = l15.assign(layer="L9", score=score[::-1].copy(), margin=-score[::-1])
    pred = df.index[df.origin == "pred"][0]
    det = pd.DataFrame({"object_id": [oid[pred]], "layer": ["detector"], "score": [0.7], "label": [None],
                        "suggested": [names[pred]], "margin": [np.nan], "kind": ["missing"]})
    rows = pd.concat([l15, l9, det], ignore_index=True)
    rows["rank"] = 0
    table = pa.Table.from_pandas(rows.astype({"score": np.float32, "margin": np.float32}), preserve_index=False)
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, PRIMARY_KEY: b"L9"}), out / SUSPECTS_FILE)
    return pd.concat([l15, det], ignore_index=True)


def expected_order(ranked: pd.DataFrame, ids) -> list[str]:
    """Independent of the code under test: by score descending, NaN last, ties by the page's row order."""
    pos = {o: i for i, o in enumerate(ids)}
    r = ranked.assign(row=ranked.object_id.map(pos), nan=ranked.score.isna(), neg=-ranked.score.fillna(0))
    return r.sort_values(["nan", "neg", "row"]).object_id.tolist()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("suspects_explorer")
    return out, suspect_run(out)


def docs_json(html: str) -> str:
    """The bokeh document of a written page (the JSON in its application/json script)."""
    m = re.search(r'<script type="application/json" id="[^"]+">\s*(.*?)\s*</script>', html, re.S)
    return m.group(1)


def page_parts(doc: str) -> tuple[set[str], dict]:
    """The points' columns and the explorer script's ``suspects`` argument in a page's document."""
    found: dict = {"columns": set(), "suspects": None}

    def walk(o):
        if isinstance(o, dict):
            if o.get("name") == "ColumnDataSource" and "object_id" in str(o["attributes"]["data"])[:200]:
                found["columns"] |= {k for k, _ in o["attributes"]["data"]["entries"]}
            if o.get("name") == "CustomJS" and "makeSuspects" in o["attributes"].get("code", ""):
                args = dict(o["attributes"]["args"]["entries"])
                found["suspects"] = dict(args["suspects"].get("entries", []))
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(json.loads(doc))
    return found["columns"], found["suspects"]


def test_the_drawn_stage_ranks_where_it_has_rows_else_the_primary():
    t = pd.DataFrame({"layer": ["L9", "L15", "detector"], "kind": ["class", "class", "swap"]})
    assert ranking_stage(t, "L9", ["L15"]) == "L15"
    assert ranking_stage(t, "L9", ["L21"]) == "L9"  # no rows at the drawn stage
    assert ranking_stage(t, "L9", ["L15", "L9"]) == "L9"  # the primary is drawn
    assert ranking_stage(t, "L9", ["detector"]) == "L9"  # detector rows are no stage
    assert ranking_stage(t, None, []) is None


def test_page_columns_come_from_the_drawn_stage(run):
    out, ranked = run
    meta = pd.read_parquet(out / "objects.parquet", columns=["object_id", "origin"])
    at15, stage = page_suspects(meta, out, ["L15"])
    assert stage == "L15"
    got = at15.set_index("object_id")
    want = ranked.set_index("object_id")
    assert np.allclose(got.loc[want.index, "suspect_score"], want["score"], equal_nan=True)
    assert np.allclose(got.loc[want.index, "suspect_margin"], want["margin"], equal_nan=True)
    at9, stage9 = page_suspects(meta, out, ["L21"])
    assert stage9 == "L9" and not np.allclose(at9["suspect_score"], at15["suspect_score"], equal_nan=True)


def test_ranked_rows_are_the_pages_order(run):
    out, ranked = run
    meta, _ = page_suspects(pd.read_parquet(out / "objects.parquet"), out, ["L15"])
    rows = ranked_rows(meta)
    assert meta.object_id.iloc[rows].tolist() == expected_order(ranked, meta.object_id)[:SHOWN]
    assert len(rows) == len(ranked)  # every scored object, NaN included (last); unscored predictions are not
    assert np.isnan(meta.suspect_score.iloc[rows[-1]])
    assert ranked_rows(meta, 3).tolist() == rows[:3].tolist()


def test_plot_page_carries_the_suspects_only_with_the_file(run, tmp_path):
    out, _ = run
    html = plot(out, 15, "pca", "class_name", hover_thumbnails=10).paths["html"].read_text()
    doc = docs_json(html)
    columns, args = page_parts(doc)
    assert {"n__suspect_score", "n__suspect_margin", "h__suspect_suggested", "h__suspect_kind"} <= columns
    assert args["stage"] == "L15" and args["cap"] == SHOWN == 100 and args["min_score"] == 0.5
    assert args["note"].startswith("Ranked by suspect_score: labels by neighbour disagreement at L15")
    # the hostile strings are in the page only as escaped data, never as markup
    assert HOSTILE_SUGGESTION not in html and HOSTILE_LABEL not in html
    assert HOSTILE_SUGGESTION.replace("<", "&lt;").replace(">", "&gt;") in doc

    make_objects_table(tmp_path, N, n_images=3, seed=2)  # the same objects, no suspects.parquet
    plain, none = page_parts(docs_json(plot(tmp_path, 15, "pca", "class_name", hover_thumbnails=10)
                                       .paths["html"].read_text()))
    assert not {c for c in plain if "suspect" in c} and "h__class_name" in plain
    assert none == {}  # the same script draws no panel


def test_a_sampled_page_draws_and_crops_every_listed_suspect(run):
    from yololens.analysis import table as T
    from yololens.analysis.projection import project
    from yololens.figures.scatter_html import interactive_points

    out, ranked = run
    proj = project(out, "emb_L15", "pca", seed=0, reuse=True)
    meta, _ = page_suspects(T.read_meta(out), out, ["L15"])
    meta = meta.set_index("object_id", drop=False).reindex(proj.object_ids).reset_index(drop=True)
    lay = interactive_points(out, [proj], meta, label="class_name", hover_thumbnails=2, max_points=40)
    assert lay.density is not None and len(lay.meta) == 40  # sampled: 40 of 60 drawn
    drawn = dict(zip(lay.meta.object_id, lay.thumbs))
    assert set(ranked.object_id) <= set(drawn)  # all 33 listed objects are drawn ...
    assert all(drawn[o].startswith("data:image/jpeg;base64,") for o in ranked.object_id)  # ... with a crop
    assert sum(bool(v) for v in lay.thumbs) < 40  # the others only by the stratified hover sample
