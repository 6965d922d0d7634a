"""Offer-read throughput: openstoq against a bare Starlette JSON endpoint, same server, same load.

Starts a real ``openstoq serve`` (uvicorn, uvloop, httptools, one process, access log off) on a
fresh SQLite data directory (or a fresh PostgreSQL database with ``--postgres``), creates a shop
with ``openstoq shops create DOMAIN --json`` and an offer over HTTP, then loads
``GET /api/v2/external/preorders/offers/:id`` (auth, rate limit, one database read). In the same
run it serves a tiny Starlette app returning the same JSON body with the same uvicorn settings
and loads it with the same generator. It prints requests/s, p50 and p99 for both, the server CPU
per request, and the ratio (target: openstoq >= 0.35 of the bare endpoint on SQLite).

Load generator: ``wrk`` when installed (a C tool, so it takes less CPU from the server), else a
minimal asyncio keep-alive HTTP/1.1 client in worker processes. Servers are pinned to one core and
the load generator to another when the machine has two or more.

    .venv/bin/python benchmarks/offer_read.py                # SQLite, 8 s per target
    .venv/bin/python benchmarks/offer_read.py --postgres     # PostgreSQL at 127.0.0.1:5432
    .venv/bin/python benchmarks/offer_read.py --client python --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from procs import BIN, Server, cpu_seconds, free_port, pinned, steal_seconds

BASE_PATH = "/api/v2/external"
OFFER_PATH = f"{BASE_PATH}/preorders/offers"
DOMAIN = "bench.myshopify.com"
TARGET_RATIO = 0.35
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432"


@dataclass(slots=True)
class Result:
    name: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx responses plus socket errors
    cpu_us: float | None = None  # server CPU (all its threads) per request: robust when the machine is busy
    steal: float | None = None  # share of the run the hypervisor took from the server's core


# --- the bare endpoint (runs in its own process: ``offer_read.py --serve-bare``) -------------


def serve_bare(port: int, payload_file: Path) -> None:
    """Serve the payload at the offer path with the settings ``openstoq serve`` uses."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    payload = json.loads(payload_file.read_text())

    async def offer(_: Request) -> JSONResponse:
        return JSONResponse(payload)

    app = Starlette(routes=[Route(OFFER_PATH + "/{id}", offer), Route("/llms.txt", offer)])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


# --- processes, ports, pinning ---------------------------------------------------------------


def cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def openstoq_cmd(base: str | None, *args: str) -> list[str]:
    """The ``openstoq`` command: ``base`` when given (``--openstoq``), else this venv's console script."""
    if base:
        return [*shlex.split(base), *args]
    script = BIN / "openstoq"
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "openstoq.cli", *args]


def idle_cpu(server: Server, seconds: float = 2.0) -> float | None:
    """The share of a core ``server`` uses with no requests (background work: job polling, timers)."""
    before = cpu_seconds(server.proc.pid)
    time.sleep(seconds)
    after = cpu_seconds(server.proc.pid)
    return None if before is None or after is None else (after - before) / seconds


# --- PostgreSQL: a fresh database per run -----------------------------------------------------


async def _pg(base: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{base}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def postgres_database(base: str) -> Iterator[str]:
    name = f"openstoq_bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg(base, f'CREATE DATABASE "{name}"'))
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_pg(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- load generators --------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(name: str, url: str, headers: dict[str, str], seconds: float, conns: int, cpu: int | None) -> Result:
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--timeout", "5s", "--latency"]
    for key, value in headers.items():
        cmd += ["-H", f"{key}: {value}"]
    out = subprocess.run(
        pinned([*cmd, url], cpu), capture_output=True, text=True, timeout=seconds + 30, check=True
    ).stdout
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    total = re.search(r"(\d+) requests in ([0-9.]+)(us|ms|s|m)", out)
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    if not (total and rps and "50" in pct and "99" in pct):
        raise RuntimeError(f"could not read wrk output:\n{out}")
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in m.groups())
    return Result(
        name,
        int(total.group(1)),
        _ms(total.group(2) + total.group(3)) / 1e3,
        float(rps.group(1)),
        _ms(pct["50"]),
        _ms(pct["99"]),
        errors,
    )


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([0-9]+)", re.I)


async def _connection_loop(host: str, port: int, request: bytes, deadline: float, latencies: list[float]) -> int:
    """One keep-alive HTTP/1.1 connection sending ``request`` until ``deadline``; returns the failures.

    A minimal client (status line, Content-Length body) rather than httpx: the load generator must
    cost far less per request than the servers it measures, or it measures itself.
    """
    errors = 0
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while (start := time.perf_counter()) < deadline:
        ok = False
        try:
            async with asyncio.timeout(5):
                if reader is None or writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = _CONTENT_LENGTH.search(head)
                if length is None:
                    raise ValueError("response without Content-Length")
                await reader.readexactly(int(length.group(1)))
                ok = head[9:10] == b"2"
        except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            if writer is not None:
                writer.close()
            reader = writer = None
        latencies.append(time.perf_counter() - start)
        errors += not ok
    if writer is not None:
        writer.close()
    return errors


def _client_worker(url: str, headers: dict[str, str], seconds: float, conns: int, cpu: int | None, out: Any) -> None:
    """One load process: ``conns`` closed-loop connections for ``seconds``; sends latencies back."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    target = httpx.URL(url)
    host, port = target.host, target.port or 80
    lines = [f"GET {target.raw_path.decode()} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def main() -> tuple[list[float], int]:
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds
        loops = (_connection_loop(host, port, request, deadline, latencies) for _ in range(conns))
        return latencies, sum(await asyncio.gather(*loops))

    try:
        import uvloop

        result = uvloop.run(main())
    except ImportError:
        result = asyncio.run(main())
    out.send(result)
    out.close()


def run_python(
    name: str, url: str, headers: dict[str, str], seconds: float, conns: int, cpu: int | None, procs: int
) -> Result:
    ctx = mp.get_context("spawn")
    pipes, workers = [], []
    try:
        for i in range(procs):
            parent, child = ctx.Pipe(duplex=False)
            per = conns // procs + (i < conns % procs)
            w = ctx.Process(target=_client_worker, args=(url, headers, seconds, per, cpu, child), daemon=True)
            w.start()
            child.close()
            pipes.append(parent)
            workers.append(w)
        latencies: list[float] = []
        errors = 0
        for p in pipes:
            if not p.poll(seconds + 60):
                raise RuntimeError("load process did not report in time")
            lat, err = p.recv()
            latencies += lat
            errors += err
    finally:
        for w in workers:
            w.join(5)
            if w.is_alive():
                w.kill()
                w.join()
    if not latencies:
        raise RuntimeError(f"no requests completed against {url}")
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return Result(name, len(latencies), seconds, len(latencies) / seconds, q[49] * 1e3, q[98] * 1e3, errors)


# --- profiling ---------------------------------------------------------------------------------


def start_py_spy(pid: int, out: Path, seconds: float, cpu: int | None) -> subprocess.Popen[bytes]:
    exe = shutil.which("py-spy") or str(BIN / "py-spy")
    if not Path(exe).exists():
        raise RuntimeError("py-spy is not installed (.venv/bin/pip install py-spy)")
    fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(out.suffix, "raw")
    cmd = [exe, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate", "200"]
    # --gil: only the thread holding the GIL, so idle threads (pool workers, pollers) do not dilute it.
    cmd += ["--format", fmt, "--output", str(out), "--nonblocking", "--gil"]
    return subprocess.Popen(pinned(cmd, cpu), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish_py_spy(spy: subprocess.Popen[bytes], out: Path) -> None:
    try:
        _, err = spy.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        spy.kill()
        _, err = spy.communicate()
    if spy.returncode != 0:
        print(f"py-spy failed ({spy.returncode}): {err.decode(errors='replace').strip()}", file=sys.stderr)
    else:
        print(f"  py-spy profile of the openstoq run written to {out}", flush=True)


# --- the run ----------------------------------------------------------------------------------


def setup_openstoq(server: Server, api_key: str) -> tuple[str, bytes]:
    """Create the offer over HTTP; return its read URL and the body a read returns."""
    headers = {"X-Auth-Token": api_key}
    created = httpx.post(
        server.url + OFFER_PATH,
        json={"name": "Benchmark preorder", "internal_name": "bench offer"},
        headers=headers,
        timeout=10,
    )
    if created.status_code != 202:
        raise RuntimeError(f"creating the offer failed: {created.status_code} {created.text}")
    url = f"{server.url}{OFFER_PATH}/{created.json()['id']}"
    read = httpx.get(url, headers=headers, timeout=10)
    if read.status_code != 200:
        raise RuntimeError(f"reading the offer failed: {read.status_code} {read.text}")
    return url, read.content


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per target (default 8)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per target (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--rounds", type=int, default=1, help="alternate bare/openstoq this many times")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--client-procs", type=int, default=1, help="processes for the Python client")
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=DEFAULT_PG,
        metavar="URL",
        help=f"run openstoq on a fresh PostgreSQL database on this server (default {DEFAULT_PG})",
    )
    parser.add_argument("--rate-limit-points", type=int, default=10**9, help="OPENSTOQ_RATE_LIMIT_POINTS")
    parser.add_argument("--rate-limit-window", type=int, default=None, help="OPENSTOQ_RATE_LIMIT_WINDOW_SECONDS")
    parser.add_argument(
        "--openstoq", metavar="CMD", help="command to run instead of this venv's openstoq (e.g. a patched build)"
    )
    parser.add_argument(
        "--no-workers", action="store_true", help="serve with --no-workers (no in-process DBOS job workers)"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers and load to separate cores")
    parser.add_argument("--json", action="store_true", help="print the results as JSON as well")
    parser.add_argument(
        "--py-spy",
        metavar="FILE",
        type=Path,
        help="profile the openstoq server with py-spy during its measured run (.svg flame graph, .txt collapsed "
        "stacks, .json speedscope)",
    )
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--payload", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve_bare:
        serve_bare(args.port, args.payload)
        return 0

    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    elif client == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install wrk), or use --client python")
    cores = [] if args.no_pin else cpus()
    server_cpu, load_cpu = (cores[0], cores[1]) if len(cores) >= 2 else (None, None)

    # SIGTERM ends the run like Ctrl-C, so every finally below still runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    results: dict[str, list[Result]] = {"bare": [], "openstoq": []}
    servers: list[Server] = []
    tmp = Path(tempfile.mkdtemp(prefix="openstoq-bench-"))
    try:
        with postgres_database(args.postgres) if args.postgres else _nothing() as pg_url:
            env = {
                **os.environ,
                "OPENSTOQ_DATA_DIR": str(tmp / "data"),
                "OPENSTOQ_RATE_LIMIT_POINTS": str(args.rate_limit_points),
                "OPENSTOQ_LOG_LEVEL": "warning",
            }
            env.pop("OPENSTOQ_REDIS_URL", None)
            env.pop("OPENSTOQ_DATABASE_URL", None)
            if args.rate_limit_window:
                env["OPENSTOQ_RATE_LIMIT_WINDOW_SECONDS"] = str(args.rate_limit_window)
            if pg_url:
                env["OPENSTOQ_DATABASE_URL"] = pg_url
            created = subprocess.run(
                openstoq_cmd(args.openstoq, "shops", "create", DOMAIN, "--json"),
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if created.returncode != 0:
                raise RuntimeError(f"openstoq shops create failed:\n{created.stderr}")
            api_key = json.loads(created.stdout)["api_key"]

            serve_flags = ["--no-workers"] if args.no_workers else []
            port = free_port()
            app = Server(
                pinned(openstoq_cmd(args.openstoq, "serve", "--port", str(port), *serve_flags), server_cpu),
                env,
                port,
                tmp / "openstoq.log",
            )
            servers.append(app)
            app.wait_ready()
            offer_url, body = setup_openstoq(app, api_key)
            payload_file = tmp / "payload.json"
            payload_file.write_bytes(body)

            port = free_port()
            bare_cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", "--port", str(port)]
            bare = Server(
                pinned([*bare_cmd, "--payload", str(payload_file)], server_cpu),
                os.environ,
                port,
                tmp / "bare.log",
                "bare",
            )
            servers.append(bare)
            bare.wait_ready()
            bare_url = offer_url.replace(app.url, bare.url)
            bare_body = httpx.get(bare_url, timeout=10).content
            backend = "PostgreSQL" if pg_url else "SQLite"
            pinning = f"servers on cpu {server_cpu}, load on cpu {load_cpu}" if server_cpu is not None else "unpinned"
            print(
                f"openstoq on {backend}: {len(body)} byte body; bare Starlette: {len(bare_body)} byte body; "
                f"client {client}, {args.connections} connections, {args.duration:g} s after {args.warmup:g} s "
                f"warm-up; {pinning}",
                flush=True,
            )

            def measure(name: str, url: str, headers: dict[str, str], seconds: float) -> Result:
                if client == "wrk":
                    return run_wrk(name, url, headers, seconds, args.connections, load_cpu)
                return run_python(name, url, headers, seconds, args.connections, load_cpu, args.client_procs)

            idle = {s.name: idle_cpu(s) for s in servers}
            if all(v is not None for v in idle.values()):
                print("idle CPU: " + ", ".join(f"{k} {v * 100:.1f}% of a core" for k, v in idle.items()), flush=True)
            _warn_if_busy()
            targets = [("bare", bare_url, {}), ("openstoq", offer_url, {"X-Auth-Token": api_key})]
            for round_no in range(args.rounds):
                for name, url, headers in targets:
                    if args.warmup > 0:
                        measure(name, url, headers, args.warmup)
                    profiling = args.py_spy and name == "openstoq" and round_no == 0
                    spy = start_py_spy(app.proc.pid, args.py_spy, args.duration, load_cpu) if profiling else None
                    pid = (app if name == "openstoq" else bare).proc.pid
                    cpu_before, steal_before = cpu_seconds(pid), steal_seconds(server_cpu)
                    result = measure(name, url, headers, args.duration)
                    cpu_after, steal_after = cpu_seconds(pid), steal_seconds(server_cpu)
                    if cpu_before is not None and cpu_after is not None and result.requests:
                        result.cpu_us = (cpu_after - cpu_before) / result.requests * 1e6
                    if steal_before is not None and steal_after is not None and result.seconds:
                        result.steal = (steal_after - steal_before) / result.seconds
                    if spy is not None:
                        finish_py_spy(spy, args.py_spy)
                    results[name].append(result)
                    tag = f"[round {round_no + 1}] " if args.rounds > 1 else ""
                    print(f"  {tag}{_line(result)}", flush=True)
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    bare_best = _median(results["bare"])
    app_best = _median(results["openstoq"])
    # Each round measures both back to back, so a round's ratio shares its noise; take their median.
    ratios = sorted(a.rps / b.rps for a, b in zip(results["openstoq"], results["bare"], strict=True))
    ratio = statistics.median(ratios)
    _warn_if_busy()
    print()
    print(_line(bare_best))
    print(_line(app_best))
    if len(ratios) > 1:
        print("ratio per round: " + ", ".join(f"{r:.3f}" for r in ratios))
    verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
    label = "median ratio openstoq/bare" if len(ratios) > 1 else "ratio openstoq/bare"
    print(f"{label}: {ratio:.3f} ({verdict} the {TARGET_RATIO} target)")
    if app_best.cpu_us and bare_best.cpu_us:
        print(f"CPU-per-request ratio bare/openstoq: {bare_best.cpu_us / app_best.cpu_us:.3f}")
    if args.json:
        print(json.dumps({"bare": asdict(bare_best), "openstoq": asdict(app_best), "ratio": ratio}))
    if bare_best.errors or app_best.errors:
        print("ERRORS during the run: some requests failed (see the errors column)", file=sys.stderr)
        return 1
    return 0


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def _median(runs: list[Result]) -> Result:
    """The round with the median throughput (the only round when there is one)."""
    return sorted(runs, key=lambda r: r.rps)[len(runs) // 2]


def _line(r: Result) -> str:
    cpu = f"  server CPU {r.cpu_us:6.0f} us/req" if r.cpu_us is not None else ""
    steal = f"  steal {r.steal * 100:.0f}%" if r.steal is not None else ""
    return (
        f"{r.name:>9}: {r.rps:9.0f} req/s  p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms{cpu}{steal}  "
        f"({r.requests} requests in {r.seconds:.1f} s, {r.errors} errors)"
    )


def _warn_if_busy() -> None:
    """Other work on the machine skews throughput; say so (the CPU-per-request figures hold up better)."""
    if not hasattr(os, "getloadavg"):
        return
    load = os.getloadavg()[0]
    cores = len(cpus()) or os.cpu_count() or 1
    if load > 0.75 * cores:
        print(f"warning: load average {load:.1f} on {cores} cores: other processes compete with this run", flush=True)


if __name__ == "__main__":
    sys.exit(main())
