"""`python -m mongo_wfstore._bench`: run the benchmark (see `command.main`)."""

import sys

from .command import main

sys.exit(main())
