"""Create or check the runs collection's indexes; the same as `mongo-wfstore init-indexes`.

    python scripts/setup_indexes.py --uri "$MONGODB_URI" --retention 30 --dry-run

Takes the same options and exits with the same codes (0 done, 1 conflict,
2 bad arguments or no server). Needs the `cli` extra.
"""

from __future__ import annotations

import sys

from mongo_wfstore._cli import main

if __name__ == "__main__":
    main(["init-indexes", *sys.argv[1:]], prog_name="setup_indexes.py")
