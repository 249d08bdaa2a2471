"""python -m runai_conformance.reference: run the embedded Run:ai Users and Tenants reference server."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import signal
import sys
import tempfile
from pathlib import Path

from .app import TOKEN_ANSWERS
from .faults import FAULTS, Faults, UnknownFault
from .server import credentials_toml, listening_socket, make_app, seed_foreign
from .store import Store, StoreError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runai_conformance.reference", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port (the ready line says which)")
    parser.add_argument(
        "--db", type=Path, help="SQLite file; data survive restarts (default: a fresh temporary database)"
    )
    parser.add_argument(
        "--credentials-out", type=Path, help="write the seeded client credentials here (TOML, the suite's format)"
    )
    parser.add_argument(
        "--fault", action="append", default=[], metavar="NAME", help="plant a named defect (repeatable)"
    )
    parser.add_argument("--list-faults", action="store_true", help="print the faults and the rule each breaks")
    parser.add_argument("--token-ttl", type=int, default=3600, help="lifetime of issued tokens, seconds")
    parser.add_argument(
        "--access-log",
        type=Path,
        help="append one JSON line per request: method, path, query, status, principal (the client id or username "
        "of its token, or null), body (not for GET/HEAD; <redacted> for /api/v1/me/password; for /api/v1/token "
        "grant = {grantType, client, known, secret_ok} instead, never a secret), created (the id a 201 create made)",
    )
    parser.add_argument(
        "--token-bytes",
        type=int,
        metavar="N",
        help="pad every issued token with a random claim to about N bytes (real identity-provider tokens are ~1 kB)",
    )
    parser.add_argument(
        "--token-answer",
        choices=TOKEN_ANSWERS,
        default="reference",
        help="the token endpoint's answer: reference = accessToken and expiresIn; runai = Run:ai's documented "
        "accessToken, idToken, refreshToken, externalToken and no expiresIn (the expiry is only the JWT's exp)",
    )
    parser.add_argument(
        "--seed-foreign",
        action="store_true",
        help="create other people's users and tenants (untagged, or near misses of a run tag; tenant ids 0, 3, 4, 7 "
        "when free) for safety audits; the ready line lists the tenant ids",
    )
    parser.add_argument(
        "--lapse",
        default="3",
        metavar="SECONDS",
        help="when the time faults (time-*) lapse: this many seconds after what they forget (default 3)",
    )
    parser.add_argument(
        "--window",
        default="100",
        metavar="N",
        help="the result size at which the volume faults (vol-*) begin (default 100)",
    )
    args = parser.parse_args(argv)
    if args.token_bytes is not None and args.token_bytes < 1:
        parser.error("--token-bytes must be a positive number of bytes")
    lapse, window = _lapse(args.lapse), _window(args.window)
    if lapse is None or window is None:
        what = f"--lapse must be a number of seconds > 0, not {args.lapse!r}" if lapse is None else ""
        what = what or f"--window must be a whole number >= 1, not {args.window!r}"
        print(f"reference: error: {what}", file=sys.stderr)
        return 2

    if args.list_faults:
        for fault in FAULTS.values():
            print(f"{fault.name:34} {fault.rule:7} {fault.description}")
        return 0
    try:
        faults = Faults(args.fault)
    except UnknownFault as exc:
        print(f"reference: error: {exc}", file=sys.stderr)
        return 2

    tmp = None
    db = args.db
    if db is None:
        tmp = tempfile.TemporaryDirectory(prefix="runai-reference-")
        db = Path(tmp.name) / "reference.sqlite"
    try:
        store = Store(db)
    except StoreError as exc:
        print(f"reference: error: {exc}", file=sys.stderr)
        return 2

    foreign = seed_foreign(store) if args.seed_foreign else None

    try:
        sock = listening_socket(args.host, args.port)
    except OSError as exc:
        print(f"reference: error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]
    url = f"http://{args.host}:{port}"

    if args.credentials_out is not None:
        try:
            args.credentials_out.write_text(credentials_toml(store, url), encoding="utf-8")
        except OSError as exc:
            print(f"reference: error: cannot write {args.credentials_out}: {exc.strerror}", file=sys.stderr)
            return 2

    log_file = args.access_log.open("a", encoding="utf-8", buffering=1) if args.access_log else None
    app = make_app(
        store,
        faults,
        token_ttl=args.token_ttl,
        access_log=log_file.write if log_file else None,
        token_bytes=args.token_bytes,
        token_answer=args.token_answer,
        lapse=lapse,
        window=window,
    )
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    planted = f" faults={','.join(sorted(faults.names))}" if faults else ""
    if foreign is not None:
        planted += f" foreign-tenants={','.join(map(str, foreign['tenants']))}"

    async def serve() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if server.started:
            print(f"reference: serving {url} (db {db if tmp is None else 'temporary'}){planted}", flush=True)
        await task

    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler it found:
    # with these no-op handlers that re-raise is harmless and the process exits 0 after its "stopped" line.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    try:
        asyncio.run(serve())
    finally:
        store.close()
        if log_file:
            log_file.close()
        if tmp is not None:
            tmp.cleanup()
    print("reference: stopped", flush=True)
    return 0


def _lapse(text: str) -> float | None:
    """--lapse as seconds, or None when it is not a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 < value < math.inf else None


def _window(text: str) -> int | None:
    """--window as a count, or None when it is not a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value >= 1 else None


if __name__ == "__main__":
    sys.exit(main())
