"""`apdraw serve`: a web page and HTTP API that draw uploaded photos (docs/WEB.md).

Listens on 127.0.0.1 (this machine only) unless --host says otherwise. Uploads are
processed in memory and dropped with the response; nothing is written to disk. Photos
wait in a bounded queue for the workers, which keep the models loaded; when the queue
is full the server answers 503 with Retry-After. Needs the web extra:
pip install 'apdraw[web]'.
"""

from __future__ import annotations

import argparse
import os
import sys

from apdraw.commands.args import positive_int

WEB_MODULES = ("fastapi", "uvicorn", "python_multipart")
INSTALL_HINT = "apdraw serve needs the web extra: pip install 'apdraw[web]' (FastAPI, uvicorn, python-multipart)"


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _port(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {value}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    from apdraw.styles import DEFAULT_STYLE, STYLES

    p = sub.add_parser("serve", help="web UI and HTTP API for drawing photos", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s: this machine only; 0.0.0.0 = every network)")
    p.add_argument("--port", type=_port, default=8000, help="port (default %(default)d)")
    p.add_argument("--style", default=DEFAULT_STYLE, choices=STYLES.names(), help="the page's default style, built at start (default %(default)s)")
    p.add_argument("--max-upload-mb", type=_positive_float, default=10.0, help="largest photo file accepted, in MB (default %(default)g)")
    p.add_argument("--max-pixels", type=positive_int, default=25_000_000, help="largest photo accepted, in pixels, checked before decoding (default %(default)d)")
    p.add_argument("--queue", type=positive_int, default=8, help="photos that may wait for a worker; more get 503 + Retry-After (default %(default)d)")
    p.add_argument("--timeout", type=_positive_float, default=60.0, help="seconds a request may take, upload included (default %(default)g)")
    p.add_argument("--workers", type=positive_int, default=min(2, os.cpu_count() or 1), help="worker threads, each with its own copy of the models (about 190 MB); default %(default)d, measured best on 2 cores (docs/WEB.md)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import importlib.util

    missing = [m for m in WEB_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        print(f"{INSTALL_HINT}; missing: {', '.join(missing)}", file=sys.stderr)
        return 2
    import logging

    import uvicorn

    from apdraw.web.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    app = create_app(
        style=args.style, max_upload_bytes=int(args.max_upload_mb * 2**20), max_pixels=args.max_pixels,
        queue_size=args.queue, timeout=args.timeout, workers=args.workers,
    )  # fmt: skip
    where = f"[{args.host}]" if ":" in args.host else args.host
    print(f"apdraw serve: http://{where}:{args.port}/  (Ctrl-C to stop)", file=sys.stderr)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"apdraw serve: listening on {args.host}: anyone who can reach this machine can use the server", file=sys.stderr)
    # limit_concurrency: connections beyond it get 503 before any work (a flood cannot exhaust memory).
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", limit_concurrency=256, timeout_keep_alive=5)
    return 0
