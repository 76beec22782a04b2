"""``yololens suspects``: which labels are probably wrong, ranked, at the stage that finds them best."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from yololens.cli.common import EXIT_SKIPPED, cli_errors

RUN_HELP = "Run folder of `yololens extract` with ground truth (--labels; --boxes both adds the detector evidence)."


def register(app: typer.Typer) -> None:
    app.command("suspects")(suspects_command)


@cli_errors
def suspects_command(
    run: Path = typer.Argument(..., metavar="RUN", help=RUN_HELP, show_default=False),
    layer: str = typer.Option("all", "--layer", "-l", help="Stage(s) to score: all, or 9, sppf, 15,21 ..."),
    k: int = typer.Option(10, "--k", min=1, max=1000, help="Neighbours per object (outside its own image/video)."),
    top: int = typer.Option(100, "--top", min=1, help="Suspects written to suspects.csv (per kind: class, detector)."),
    inject_noise: Optional[float] = typer.Option(None, "--inject-noise", min=0.0, max=0.9,
                                                 help="Validate: flip this share of gt labels in memory (uniform and "
                                                      "confusable flips) and write suspects_eval.csv."),
    seed: int = typer.Option(0, "--seed", help="Seed of the injected flips, the bootstrap and the random baseline."),
    group_by: str = typer.Option("auto", "--group-by", help="Neighbours from the same value of this column do not "
                                 "count: auto (video, else image), image, video, track_id or none."),
    conf: float = typer.Option(0.5, "--conf", min=0.0, max=1.0, help="Detector evidence: confident predictions only."),
    jobs: int = typer.Option(-1, "--jobs", "-j", help="Threads of the approximate neighbour search above 20k objects (-1 = all cores)."),
) -> None:
    """Rank the ground-truth labels of RUN by how much their embedding neighbours (and the detector) disagree.

    Writes RUN/suspects.parquet, RUN/suspects.csv (top suspects with image names and boxes) and, with
    --inject-noise, RUN/suspects_eval.csv. The first line is the answer.
    """
    from yololens.jobs.suspects import suspects

    rep = suspects(run, layer=layer, k=k, top=top, inject_noise=inject_noise or None, seed=seed, group_by=group_by,
                   conf=conf, n_jobs=jobs)
    typer.echo(rep.headline)
    if rep.evaluation_line:
        typer.echo(rep.finding)
    if rep.table[rep.table["layer"] == rep.primary]["score"].isna().all():
        raise typer.Exit(EXIT_SKIPPED)
    for stage, n in rep.unscored.items():
        if n:
            typer.echo(f"{stage}: {n} label(s) not judged: their class has no object outside their own image/video")
    typer.echo(f"{rep.grouping}; k={k}")
    for name, path in rep.paths.items():
        typer.echo(f"{name}: {path}")
