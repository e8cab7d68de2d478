"""`python -m streamer` is the `vigil` command."""

import sys

from streamer.cli import main

sys.exit(main())
