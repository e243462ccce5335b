"""``python -m owlx`` is the same as the ``owlx`` command."""

from .cli import main

raise SystemExit(main())
