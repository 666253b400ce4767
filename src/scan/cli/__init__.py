"""The ``scan`` command: a package of thin shells over the public functions.

Each sub-command lives in its own module (``spatial``, ``spacetime``, ``batch``, ``demo``) and
maps every option to one keyword of the Python API with the same default (the option table is
:data:`scan.params.PARAMS`).  Failures print one line, ``scan: error: ...``: exit code 2 for bad
input or parameters, 1 for a failure while running, 130 when interrupted.
"""
from __future__ import annotations

import argparse
import logging
import sys

from .common import ScanArgumentParser, run_command


class _VersionAction(argparse.Action):
    """``--version``: asks git for the commit only when the option is given (building the
    parser must not start a subprocess)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show the version and exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from .. import version_string

        print(f"scan {version_string()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    from . import batch, demo, inquiry, spacetime, spatial

    parser = ScanArgumentParser(
        prog="scan", description="Kulldorff scan statistics for disease clusters, with the air "
        "the people inside breathe.")
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log progress details (and where an internal error happened)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=ScanArgumentParser)
    for module in (spatial, spacetime, inquiry, batch, demo):
        module.add_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:          # --help, --version, or a usage error already printed
        return int(exc.code or 0)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
