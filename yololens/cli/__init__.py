"""The ``yololens`` command line (Typer). Each command lives in its own ``cmd_*.py`` module."""
