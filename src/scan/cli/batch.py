"""``scan batch``: run or resume a set of analyses (:func:`scan.batch.run_batch`)."""
from __future__ import annotations

import sys


def add_parser(sub):
    p = sub.add_parser("batch", help="run or resume a set of analyses from a TOML config",
                       description="Run the analyses of a TOML config into one folder. Finished "
                       "analyses whose options and input files are unchanged are kept; a killed "
                       "run resumes where it stopped.")
    p.add_argument("config", metavar="CONFIG.toml", help="the batch configuration")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder: summary.csv, run-log.jsonl, analyses/<name>/ (a new or "
                        "empty folder, or a batch folder scan wrote)")
    p.add_argument("--only", action="append", default=None, metavar="NAME",
                   help="run only this analysis (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from ..batch import run_batch

    def say(message: str) -> None:
        if not args.quiet or message.startswith("scan: "):
            print(message, file=sys.stderr)

    _compile_notice(args.config, say)
    counts = run_batch(args.config, args.out, only=args.only, report=say)
    return 1 if counts["failed"] else 0


def _compile_notice(config, say) -> None:
    """The first-run notice for the kinds of analysis the config runs (a config that cannot be
    read is left to run_batch to report)."""
    from ..kernel_cache import KINDS, NOTICE, cold

    try:
        from ..batch import load_config

        entries = load_config(config).get("analysis", [])
        kinds = {e.get("command") for e in entries if isinstance(e, dict)} & set(KINDS)
    except Exception:
        return
    if kinds and cold(sorted(kinds)):
        say(NOTICE)
