"""The ``nnlib`` command line (placeholder until the training issue lands its subcommands)."""
from __future__ import annotations

import argparse
import sys

from . import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nnlib", description=__doc__)
    parser.add_argument("--version", action="version", version=f"nnlib {__version__}")
    parser.add_subparsers(dest="command")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
