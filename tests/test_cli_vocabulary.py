"""One CLI vocabulary (issue 14 §4): every short flag and option name means one thing in every command."""

from __future__ import annotations

import subprocess
import sys

from typer.main import get_command

from yololens.cli.app import app


def _commands(group, prefix: tuple[str, ...] = ()):
    """``("export fiftyone", command)`` for every leaf command (typer vendors click: duck-typed)."""
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, prefix + (name,))
        else:
            yield " ".join(prefix + (name,)), cmd


COMMANDS = dict(_commands(get_command(app)))


def _options(cmd):
    return [p for p in cmd.params if p.param_type_name == "option"]


def test_every_command_is_walked():
    assert {"extract", "maps", "protos", "coefficients", "coef-report", "project", "plot", "stages", "report",
            "layers", "demo", "export tensorboard", "export fiftyone"} <= set(COMMANDS)


def test_each_short_flag_has_one_meaning():
    meaning: dict[str, dict[str, list[str]]] = {}
    for name, cmd in COMMANDS.items():
        for opt in _options(cmd):
            long = next(o for o in opt.opts if o.startswith("--"))  # the primary name (aliases follow it)
            for short in (o for o in opt.opts if len(o) == 2 and o[0] == "-" and o[1] != "-"):
                meaning.setdefault(short, {}).setdefault(long, []).append(name)
    clashes = {short: uses for short, uses in meaning.items() if len(uses) > 1}
    assert clashes == {}
    assert set(meaning["-m"]) == {"--model"} and set(meaning["-o"]) == {"--out"} and set(meaning["-s"]) == {"--source"}


def test_format_is_always_an_output_format_and_the_source_format_has_one_name():
    for name, cmd in COMMANDS.items():
        for opt in _options(cmd):
            if "--format" in opt.opts:
                assert "source" not in (opt.help or "").lower(), name
                assert any(word in (opt.help or "") for word in ("png", "csv")), name
            if "source format" in (opt.help or "").lower():
                assert opt.opts == ["--source-format"], (name, opt.opts)
        if any("--source" in o.opts for o in _options(cmd)) and name not in ("demo",):
            assert any("--source-format" in o.opts for o in _options(cmd)), name


def test_the_run_folder_is_called_run():
    for name in ("project", "plot", "stages", "export tensorboard", "export fiftyone"):
        args = [p for p in COMMANDS[name].params if p.param_type_name == "argument"]
        assert [a.metavar or a.name.upper() for a in args] == ["RUN"], name


def test_help_texts_say_what_the_option_does():
    def help_of(command: str, option: str) -> str:
        return next(o.help for o in _options(COMMANDS[command]) if option in o.opts)

    assert "default: cuda:0" not in help_of("layers", "--device")
    assert "coordinates" not in help_of("stages", "--seed")
    assert "yololens[umap]" in help_of("report", "--method").replace("\\", "")
    out_default = next(o.default for o in _options(COMMANDS["coefficients"]) if "--out" in o.opts)
    assert str(out_default) == "yololens-coefficients"


def test_version_names_every_engine():
    proc = subprocess.run([sys.executable, "-m", "yololens.cli.app", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip()
    assert line.startswith("yololens ") and all(f"{name} " in line for name in ("ultralytics", "torch", "openvino"))
