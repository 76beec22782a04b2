"""``yololens similarity RUN [RUN_B]``: how alike are the stages? Linear CKA between every pair of stages of a
run, or between the stages of two runs on the same labelled objects."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from yololens.cli.common import EXIT_SKIPPED, cli_errors
from yololens.types import StageOrigin


def register(app: typer.Typer) -> None:
    app.command("similarity")(similarity_command)


@cli_errors
def similarity_command(
    run: Annotated[Path, typer.Argument(metavar="RUN", help="Run folder (output of `yololens extract`); results are "
                                        "written into it.", show_default=False)],
    run_b: Annotated[Optional[Path], typer.Argument(metavar="[RUN_B]", help="A second run of another model on the "
                                                    "same source and labels: compare the two models' stages.",
                                                    show_default=False)] = None,
    layer: Annotated[Optional[str], typer.Option("--layer", "-l", help="Stages of RUN: 9,15,p3 or 'all' (default: "
                                                 "every emb_* column).")] = None,
    layer_b: Annotated[Optional[str], typer.Option("--layer-b", help="Stages of RUN_B (default: every emb_* "
                                                   "column).")] = None,
    origin: Annotated[StageOrigin, typer.Option("--origin", help="Which objects: auto (gt rows when the table has "
                                               "them, else all), gt, pred or all; across two runs only gt.")] = StageOrigin.AUTO,
    batch: Annotated[int, typer.Option("--batch", min=4, help="Objects per minibatch of the unbiased HSIC "
                                       "estimator (memory ~ stages x batch^2 x 8 bytes).")] = 256,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples of the minibatches for "
                                           "a 95% interval per cell (0 = none; needs 2+ batches).")] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
) -> None:
    """Linear CKA (unbiased HSIC, minibatch) between stages; first line: the most and least alike pair (or,
    across two runs, the same-role layers). Writes similarity.csv and similarity.png into RUN."""
    from yololens.jobs.similarity import similarity

    res = similarity(run, run_b, layers=layer, layers_b=layer_b, origin=origin, batch=batch, bootstrap=bootstrap,
                     seed=seed)
    typer.echo(res.headline)
    if res.insufficient:
        raise typer.Exit(EXIT_SKIPPED)
    for note in res.notes:
        typer.echo(f"note: {note}")
    for kind, path in res.paths.items():
        typer.echo(f"{kind}: {path}")
