"""runai-conformance: commands beside the pytest suite.

    runai-conformance sweep --credentials FILE [--target-url URL] (--tag rcf-1a2b3c4d | --all [--older-than MIN])

`sweep` deletes users and tenants that runs of this suite left behind (a crashed run cannot clean up
after itself). It only ever touches names that carry a run tag: one run's tag with --tag, or every
run's with --all, and then only those older than --older-than minutes, so that runs still going on
the same target keep their resources.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import httpx

from conformance.api import Api, Ledger, Tokens, sweep
from conformance.redact import Redactor
from conformance.target import TAG_PREFIX, ConfigError, build_target

TAG = re.compile(rf"^{re.escape(TAG_PREFIX)}[0-9a-f]{{8}}$")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="runai-conformance", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser("sweep", help="delete what crashed runs left behind, by run tag")
    cmd.add_argument("--target-url", help="base URL (default: [target] url of the credentials file)")
    cmd.add_argument("--credentials", type=Path, help="credentials file (TOML)")
    cmd.add_argument("--token", help="a bearer token for the admin role alone")
    which = cmd.add_mutually_exclusive_group(required=True)
    which.add_argument("--tag", help=f"one run's tag, as printed in its report header ({TAG_PREFIX}xxxxxxxx)")
    which.add_argument("--all", action="store_true", help=f"every run's tag ({TAG_PREFIX}…)")
    cmd.add_argument(
        "--older-than",
        type=float,
        default=60.0,
        help="with --all: only what is at least this many minutes old (default 60)",
    )
    args = parser.parse_args(argv)
    if args.tag is not None and not TAG.match(args.tag):
        print(
            f"runai-conformance: error: --tag {args.tag!r} is not a run tag ({TAG_PREFIX} and 8 hex digits)",
            file=sys.stderr,
        )
        return 2
    try:
        target = build_target(
            url=args.target_url,
            credentials=args.credentials,
            token=args.token,
            profile="smoke",
            read_only=False,
            report_dir=Path("."),
        )
        redact = Redactor(target.secrets)
        with httpx.Client(base_url=target.url, timeout=30.0) as http:
            api = Api(target, http, Tokens(http, target.roles, redact), redact, Ledger(args.tag or TAG_PREFIX))
            api.tokens.token("admin")
            problems = sweep(api, args.tag or TAG_PREFIX, older_than=None if args.tag else args.older_than * 60)
    except ConfigError as exc:
        print(f"runai-conformance: error: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(
            f"runai-conformance: error: cannot reach {args.target_url or 'the target'}: {type(exc).__name__}",
            file=sys.stderr,
        )
        return 2
    for problem in problems:
        print(f"runai-conformance: could not delete {problem}", file=sys.stderr)
    print(
        f"runai-conformance: swept {args.tag or TAG_PREFIX + '*'} on {target.url}"
        + (f" ({len(problems)} problem(s))" if problems else "")
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
