"""The ``yololens`` console script: registers every command module on one Typer app."""

from __future__ import annotations

import typer

from yololens.cli import (
    cmd_coefficients,
    cmd_demo,
    cmd_export,
    cmd_extract,
    cmd_layers,
    cmd_maps,
    cmd_project,
    cmd_protos,
    cmd_report,
)

app = typer.Typer(
    name="yololens",
    help="Open up Ultralytics YOLO models (v8, 11, 26; detect and seg) and show what they learned.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

for _module in (cmd_layers, cmd_extract, cmd_maps, cmd_project, cmd_protos, cmd_coefficients, cmd_report, cmd_export,
                cmd_demo):
    _module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
