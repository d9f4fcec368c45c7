"""`python -m engine` is the same as `cutover`."""

import sys

from engine.cli import main

sys.exit(main())
