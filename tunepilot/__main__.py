"""``python -m tunepilot`` is the ``tunepilot`` command."""

import sys

from tunepilot.cli import main

sys.exit(main())
