"""``python -m yololens``: the CLI."""

from yololens.cli.app import main

if __name__ == "__main__":
    main()
