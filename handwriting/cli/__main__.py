"""`python -m handwriting.cli`: the `handwriting` command."""

import sys

from handwriting.cli import main

sys.exit(main())
