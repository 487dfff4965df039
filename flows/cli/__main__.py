"""`python -m flows.cli ...` runs the `ladle` command."""

import sys

from flows.cli import main

sys.exit(main())
