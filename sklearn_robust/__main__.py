"""``python -m sklearn_robust``: the command line (see :mod:`sklearn_robust.cli`)."""

from .cli import main

if __name__ == "__main__":  # importing the module (docs, tools) must not run the command
    raise SystemExit(main())
