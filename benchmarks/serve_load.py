"""Load test of `salarynet serve`: N single predictions at concurrency C, against 127.0.0.1 only.

    uv run python benchmarks/serve_load.py --run runs/recommended              # starts the server itself
    uv run python benchmarks/serve_load.py --url http://127.0.0.1:8000         # an already running one

Bounded in count (--requests) and time (--limit seconds); each of C clients keeps one HTTP/1.1
connection open and sends its next request when the last one is answered. Reports requests/second,
latency percentiles and errors, and writes benchmarks/results/serve_load.{md,json}.
"""

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

RESULTS = Path(__file__).parent / "results"
TITLES = [
    "Data Scientist",
    "Teacher",
    "Senior Software Engineer",
    "Librarian",
    "Program Manager",
    "Nurse",
    "Accountant",
    "Director of Marketing",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run: str, port: int, workers: int = 1) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "salarynet", "serve", run, "--port", str(port), "--workers", str(workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server stopped: {proc.stderr.read().decode().strip()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start within 120 s")


async def request(reader, writer, host: str, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """One HTTP/1.1 request on a kept-alive connection -> (status, body)."""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    writer.write(head + body)
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return int(status_line.split()[1]), await reader.readexactly(length)


def sample_bodies(model: dict) -> list[bytes]:
    """Answer sets built from the model's own fields: the first allowed answer, a few job titles."""
    base = {f["name"]: f["allowed"][0] for f in model["fields"] if f["kind"] != "text" and f["allowed"]}
    bodies = []
    for title in TITLES:
        answers = dict(base)
        if any(f["name"] == "job_title" for f in model["fields"]):
            answers["job_title"] = title
        bodies.append(json.dumps(answers).encode())
    return bodies


async def load(host: str, port: int, total: int, concurrency: int, limit: float, path: str = "/predict") -> dict:
    reader, writer = await asyncio.open_connection(host, port)
    status, body = await request(reader, writer, host, "GET", "/model")
    writer.close()
    if status != 200:
        raise SystemExit(f"GET /model answered {status}")
    bodies = sample_bodies(json.loads(body))
    latencies: list[float] = []
    errors: dict[str, int] = {}
    issued = 0
    deadline = time.monotonic() + limit

    async def client(k: int) -> None:
        nonlocal issued
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while issued < total and time.monotonic() < deadline:
                issued += 1
                started = time.perf_counter()
                try:
                    status, _ = await request(reader, writer, host, "POST", path, bodies[issued % len(bodies)])
                except (OSError, asyncio.IncompleteReadError) as e:
                    errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                    return
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors[str(status)] = errors.get(str(status), 0) + 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(concurrency)))
    wall = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "concurrency": concurrency,
        "seconds": round(wall, 3),
        "requests_per_second": round(len(latencies) / wall, 1),
        "latency_ms": {
            p: round(float(np.percentile(ms, q)), 2) for p, q in [("p50", 50), ("p90", 90), ("p99", 99), ("max", 100)]
        }
        if len(ms)
        else {},
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
    }


async def health_during_batch(host: str, port: int, rows: int = 1000, tries: int = 5) -> dict:
    """GET /health's latency while a POST of `rows` answer sets is being predicted (the batch sent first, /health
    on another connection 20 ms later), and the batch's own time: the event loop must not wait for the batch."""
    reader, writer = await asyncio.open_connection(host, port)
    status, body = await request(reader, writer, host, "GET", "/model")
    big = ("[" + ",".join([sample_bodies(json.loads(body))[0].decode()] * rows) + "]").encode()
    health_ms, batch_ms = [], []
    other = await asyncio.open_connection(host, port)
    for _ in range(tries):
        started = time.perf_counter()
        posted = asyncio.ensure_future(request(reader, writer, host, "POST", "/predict?explain=false", big))
        await asyncio.sleep(0.02)
        asked = time.perf_counter()
        await request(*other, host, "GET", "/health")
        health_ms.append((time.perf_counter() - asked) * 1000)
        status, _ = await posted
        batch_ms.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise SystemExit(f"POST of {rows} answer sets answered {status}")
    writer.close()
    other[1].close()
    return {"rows": rows, "health_ms": [round(v, 1) for v in health_ms], "batch_ms": [round(v, 1) for v in batch_ms]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a run folder: start `salarynet serve RUN` on a free port")
    parser.add_argument("--url", help="an already running server on this machine")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="with --run: server processes")
    parser.add_argument("--limit", type=float, default=300, help="stop after this many seconds whatever the count")
    parser.add_argument("--record", action="store_true", help="also write benchmarks/results/serve_load.{md,json}")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="ask for each answer's explanation (default: POST /predict?explain=false, the answer alone)",
    )
    args = parser.parse_args()
    if bool(args.run) == bool(args.url):
        parser.error("give --run RUN or --url URL")
    proc = None
    if args.run:
        host, port = "127.0.0.1", free_port()
        proc = start_server(args.run, port, args.workers)
    else:
        parts = urlsplit(args.url)
        host, port = parts.hostname, parts.port or 80
        if host not in ("127.0.0.1", "localhost", "::1"):
            parser.error("the load test only targets this machine (127.0.0.1, localhost, ::1)")
    try:
        path = "/predict" if args.explain else "/predict?explain=false"
        asyncio.run(
            load(host, port, min(args.requests, 10_000), args.concurrency, 1.0, path)
        )  # warm-up, bounded to 1 s
        result = asyncio.run(load(host, port, args.requests, args.concurrency, args.limit, path))
        result["path"] = path
        result["health_during_batch"] = asyncio.run(health_during_batch(host, port))
    finally:
        if proc:
            proc.terminate()
            proc.wait(10)
    result["run"] = args.run or args.url
    result["workers"] = args.workers if args.run else None
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(json.dumps(result, indent=2))
    if args.record:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "serve_load.json").write_text(json.dumps(result, indent=2) + "\n")
        lat = result["latency_ms"]
        (RESULTS / "serve_load.md").write_text(
            f"# serve load test\n\n`{' '.join(sys.argv[1:])}` on {result['machine']}, server and client on this machine.\n\n"
            "| requests | concurrency | requests/s | p50 ms | p90 ms | p99 ms | max ms | errors |\n"
            "|---:|---:|---:|---:|---:|---:|---:|---:|\n"
            f"| {result['requests']} | {result['concurrency']} | {result['requests_per_second']} | {lat.get('p50')} | "
            f"{lat.get('p90')} | {lat.get('p99')} | {lat.get('max')} | {result['errors']} |\n"
            f"\nGET /health while a POST of {result['health_during_batch']['rows']} answer sets is predicted: "
            f"{', '.join(map(str, result['health_during_batch']['health_ms']))} ms (the batch: "
            f"{', '.join(map(str, result['health_during_batch']['batch_ms']))} ms)\n"
        )


if __name__ == "__main__":
    main()
