"""``yololens compare RUN_A RUN_B``: what changed between two checkpoints on the same labelled source."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from yololens.cli.common import cli_errors


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)


@cli_errors
def compare_command(
    run_a: Annotated[Path, typer.Argument(metavar="RUN_A", help="Run folder of the first model (`yololens extract "
                                          "--labels ... --boxes both`).", show_default=False)],
    run_b: Annotated[Path, typer.Argument(metavar="RUN_B", help="Run folder of the second model on the same source "
                                          "and labels.", show_default=False)],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder (default: RUN_A/compare_vs_<RUN_B>_"
                                                "<hash>).")] = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=1, help="Bootstrap resamples for the paired 95% "
                                           "intervals.")] = 1000,
    folds: Annotated[int, typer.Option("--folds", min=2, help="Grouped cross-validation folds.")] = 5,
    k: Annotated[int, typer.Option("--k", min=1, help="Neighbours for k-NN accuracy.")] = 10,
    sample: Annotated[int, typer.Option("--sample", min=0, help="Class-stratified cap on the objects scored per "
                                        "stage (0 = all).")] = 5000,
    map_role: Annotated[Optional[str], typer.Option("--map", help="Stage placing the objects in compare.html: p3, "
                                                    "p4, p5 or backbone (default: the first both runs have).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the folds, the bootstrap and the maps.")] = 0,
) -> None:
    """Gt status moves per class (transitions.csv), false positives per model, same-role stages of both models on
    the same objects with paired intervals, their CKA, and compare.html (the two maps, linked). First line: the
    answer."""
    from yololens.jobs.compare import compare

    res = compare(run_a, run_b, out=out, bootstrap=bootstrap, folds=folds, k=k, sample=sample or None,
                  map_role=map_role, seed=seed)
    typer.echo(res.headline)
    for note in res.notes:
        typer.echo(f"note: {note}")
    for kind, path in res.paths.items():
        typer.echo(f"{kind}: {path}")
