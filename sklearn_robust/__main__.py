"""``python -m sklearn_robust``: the command line (see :mod:`sklearn_robust.cli`)."""

from .cli import main

raise SystemExit(main())
