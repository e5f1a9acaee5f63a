"""`python -m devnet ...` is the `finchain` command (the devnet starts its detached proxy this way)."""

import sys

from devnet.cli import main

sys.exit(main())
