"""``python -m nnlib ...``: the same as the ``nnlib`` console script."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
