"""``python -m tokenward``: the same as the ``tokenward`` console script."""

import sys

from tokenward.cli import main

if __name__ == "__main__":
    sys.exit(main())
