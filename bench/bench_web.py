"""Load on `apdraw serve`: many concurrent clients against one server on 127.0.0.1.

    python bench/bench_web.py [--clients 50] [--seconds 60] [--style apdrawinggan] [--workers 1 2] [--queue 8] [--write-doc]

For each ``--workers`` value a fresh ``apdraw serve`` process is started on a free
loopback port and left to build its default style. Then ``--clients`` threads, each
with its own keep-alive connection, POST the bundled example photos (alternately
grace_hopper.jpg and astronaut.png) to /api/draw for ``--seconds`` seconds. A 503 is
the server's deliberate "queue full": the client waits the Retry-After it was given
(bounded by the time left) and goes on. Anything else that is not a 200 (another
status, a reset connection, a timeout) is a failure.

Every loop is bounded: each client stops at the deadline or after
``--max-requests`` requests, a request times out after the server's timeout + 30 s, and
the run ends by itself. Only 127.0.0.1 is contacted.

Reported per server: requests served (200), deliberate 503s, failures, throughput,
p50/p95/max latency of the 200s (from sending the request to the last byte of the
answer, queueing included), the server's resident memory after start-up, its peak
(VmHWM) and at the end, whether it still answered /healthz within 5 s after the run
(no hang), and whether every client thread finished. ``--write-doc`` puts the table
into docs/WEB.md.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "WEB.md"
PHOTOS = [REPO / "examples" / "grace_hopper.jpg", REPO / "examples" / "astronaut.png"]
HOST = "127.0.0.1"
SERVER_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def multipart(path: Path) -> tuple[bytes, str]:
    """A multipart/form-data body with the photo in ``image`` (the style is the server's default)."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{path.name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()  # fmt: skip
    return body, f"multipart/form-data; boundary={boundary}"


def proc_status(pid: int, key: str) -> int:
    """A /proc/PID/status field in bytes (VmRSS, VmHWM), 0 when gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def start_server(port: int, style: str, workers: int, queue: int, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "apdraw", "serve", "--host", HOST, "--port", str(port), "--style", style,
           "--workers", str(workers), "--queue", str(queue), "--timeout", str(SERVER_TIMEOUT)]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"apdraw serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if b'"ready":true' in get(port, "/healthz", 2)[1]:
                return proc
        except OSError:
            pass
        time.sleep(0.25)
    proc.kill()
    raise RuntimeError(f"apdraw serve was not ready in 180 s:\n{log.read_text()}")


class Client(threading.Thread):
    """One client: its own keep-alive connection, POSTs until the deadline or ``max_requests``."""

    def __init__(self, i: int, port: int, bodies: list[tuple[bytes, str]], deadline: float, max_requests: int):
        super().__init__(name=f"client-{i}", daemon=True)
        self.i, self.port, self.bodies, self.deadline, self.max_requests = i, port, bodies, deadline, max_requests
        self.latencies: list[float] = []
        self.busy = 0
        self.failures: list[str] = []
        self.reconnects = 0

    def post(self, conn: http.client.HTTPConnection, body: bytes, ctype: str) -> tuple[int, bytes, str, str]:
        conn.request("POST", "/api/draw", body, {"Content-Type": ctype})
        r = conn.getresponse()
        return r.status, r.read(), r.getheader("Retry-After") or "1", r.getheader("Connection", "")

    def run(self) -> None:
        conn, used = None, False
        for n in range(self.max_requests):
            if time.monotonic() >= self.deadline:
                break
            body, ctype = self.bodies[(self.i + n) % len(self.bodies)]
            if conn is None:
                conn, used = http.client.HTTPConnection(HOST, self.port, timeout=SERVER_TIMEOUT + 30), False
            t = time.perf_counter()
            try:
                try:
                    status, data, retry, connection = self.post(conn, body, ctype)
                except (ConnectionError, http.client.RemoteDisconnected):
                    if not used:
                        raise
                    # The server closed an idle keep-alive connection as we reused it: reconnect once,
                    # as browsers and HTTP libraries do.
                    self.reconnects += 1
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, self.port, timeout=SERVER_TIMEOUT + 30)
                    t = time.perf_counter()
                    status, data, retry, connection = self.post(conn, body, ctype)
                used = True
                dt = time.perf_counter() - t
                if status == 200 and data.startswith(b"\x89PNG"):
                    self.latencies.append(dt)
                elif status == 503:
                    self.busy += 1
                    conn.close()  # waiting longer than the server keeps an idle connection
                    conn = None
                    time.sleep(max(0.0, min(float(retry), self.deadline - time.monotonic())))
                else:
                    self.failures.append(f"HTTP {status}: {data[:200]!r}")
                if conn is not None and connection.lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()


def run_load(style: str, workers: int, clients: int, seconds: float, queue: int, max_requests: int) -> dict:
    port = free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"apdraw_bench_web_{port}.log"
    proc = start_server(port, style, workers, queue, log)
    try:
        rss_start = proc_status(proc.pid, "VmRSS")
        bodies = [multipart(p) for p in PHOTOS]
        stop = threading.Event()
        samples: list[int] = []

        def sample() -> None:
            while not stop.wait(0.5):
                samples.append(proc_status(proc.pid, "VmRSS"))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.monotonic()
        deadline = t0 + seconds
        threads = [Client(i, port, bodies, deadline, max_requests) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, deadline + SERVER_TIMEOUT + 40 - time.monotonic()))
        elapsed = time.monotonic() - t0
        stop.set()
        sampler.join()
        hung_clients = sum(t.is_alive() for t in threads)
        try:
            status, health = get(port, "/healthz", 5)
            responsive = status == 200
        except OSError:
            responsive = False
        lat = np.array([x for t in threads for x in t.latencies])
        failures = [f for t in threads for f in t.failures]
        return {
            "workers": workers, "clients": clients, "seconds": seconds, "elapsed": elapsed,
            "served": int(lat.size), "busy": sum(t.busy for t in threads), "failed": len(failures),
            "reconnects": sum(t.reconnects for t in threads),
            "failures": failures[:5], "p50": float(np.percentile(lat, 50)) if lat.size else float("nan"),
            "p95": float(np.percentile(lat, 95)) if lat.size else float("nan"), "max": float(lat.max()) if lat.size else float("nan"),
            "rss_start": rss_start, "rss_peak": proc_status(proc.pid, "VmHWM"), "rss_end": proc_status(proc.pid, "VmRSS"),
            "rss_max_sampled": max(samples, default=0), "responsive": responsive, "hung_clients": hung_clients,
            # RSS at each quarter of the run: does it level off?
            "rss_quarters": [samples[min(len(samples) - 1, (len(samples) * q) // 4 - 1)] for q in (1, 2, 3, 4)] if samples else [],
        }  # fmt: skip
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.unlink(missing_ok=True)


def table(results: list[dict], style: str, queue: int) -> str:
    mb = lambda n: f"{n / 2**20:.0f} MB"  # noqa: E731
    lines = [
        f"`python bench/bench_web.py --clients {results[0]['clients']} --seconds {results[0]['seconds']:g} --style {style} "
        f"--queue {queue} --workers {' '.join(str(r['workers']) for r in results)}`: {results[0]['clients']} concurrent "
        f"clients for {results[0]['seconds']:g} s against one `apdraw serve` on 127.0.0.1 (examples/grace_hopper.jpg and "
        f"astronaut.png alternately, aligned frame, largest face); {platform.machine()}, {os.cpu_count()} cores, "
        "shared with other work; the clients run on the same cores.",
        "",
        "| workers | served (200) | per s | deliberate 503s | failed | p50 latency | p95 latency | max | RSS after start | RSS at ¼, ½, ¾ of the run | peak RSS (VmHWM) | after the run |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        after = ("answers /healthz" if r["responsive"] else "NO ANSWER") + ("" if not r["hung_clients"] else f", {r['hung_clients']} clients hung")
        lines.append(
            f"| {r['workers']} | {r['served']} | {r['served'] / r['elapsed']:.2f} | {r['busy']} | {r['failed']} | {r['p50']:.2f} s | "
            f"{r['p95']:.2f} s | {r['max']:.2f} s | {mb(r['rss_start'])} | {', '.join(mb(x) for x in r['rss_quarters'][:3])} | "
            f"{mb(r['rss_peak'])} | {after} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--style", default="apdrawinggan", help="the server's style (apdrawinggan or npr)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1], help="worker counts to compare, one server each")
    parser.add_argument("--queue", type=int, default=8, help="the server's --queue")
    parser.add_argument("--max-requests", type=int, default=2000, help="per client, a bound besides the time")
    parser.add_argument("--write-doc", action="store_true", help=f"put the table into {DOC}")
    args = parser.parse_args()
    if not (1 <= args.clients <= 200 and 0 < args.seconds <= 600):
        parser.error("--clients 1..200 and --seconds up to 600")
    results = []
    for w in args.workers:
        r = run_load(args.style, w, args.clients, args.seconds, args.queue, args.max_requests)
        print(f"workers={w}: {r}", flush=True)
        results.append(r)
    block = table(results, args.style, args.queue)
    print(block)
    if args.write_doc:
        from apdraw.io import write_doc_block

        write_doc_block(DOC, "bench_web", block, heading="Load")
        print(f"wrote {DOC}")
    return 0 if all(r["failed"] == 0 and r["responsive"] and not r["hung_clients"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
