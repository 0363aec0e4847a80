"""``python -m npae``: the same command line as the ``npae`` script (see :mod:`npae.cli`)."""
import sys

from .cli import main

sys.exit(main())
