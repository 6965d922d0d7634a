"""MCP tool-call throughput against plain HTTP, same server, same action, same run.

Starts a real ``openstoq serve`` on 127.0.0.1 (SQLite in a temp data directory, the rate limit
raised out of the way with ``OPENSTOQ_RATE_LIMIT_POINTS``), creates a shop and an offer, then reads
that offer for a fixed time in three ways, each with a few concurrent clients:

- ``mcp sdk``: the ``preorders_offers_read`` tool through the official SDK client
  (``streamable_http_client`` + ``ClientSession``), one session per client;
- ``mcp raw``: the same ``tools/call`` as a bare JSON-RPC POST with httpx (no SDK on the client,
  so the difference to ``mcp sdk`` is client-side cost);
- ``http``: ``GET /api/v2/external/preorders/offers/:id`` with httpx.

It prints calls/s and median latency for each and the MCP/HTTP ratios. The clients run in this
process; with two or more CPUs the server is pinned to one and this process to another.

    .venv/bin/python benchmarks/mcp_tools.py                  # 5 s per way, 4 clients
    .venv/bin/python benchmarks/mcp_tools.py --duration 3 --clients 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from procs import BIN, openstoq_serve

API = "/api/v2/external"
TOOL = "preorders_offers_read"
ACCEPT = {"Accept": "application/json, text/event-stream"}


@dataclass(slots=True)
class Result:
    name: str
    calls: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.calls / self.seconds

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")


Call = Callable[[], Awaitable[bool]]  # one request; True when it succeeded


async def measure(name: str, clients: list[Call], seconds: float, warmup: float) -> Result:
    """Run every client in a loop for ``warmup`` (not counted), then ``seconds``."""
    latencies: list[float] = []
    errors = 0
    counting = False

    async def loop(call: Call, until: float) -> None:
        nonlocal errors
        while (start := time.perf_counter()) < until:
            ok = await call()
            if counting:
                latencies.append((time.perf_counter() - start) * 1000)
                errors += not ok

    await asyncio.gather(*(loop(c, time.perf_counter() + warmup) for c in clients))
    counting = True
    began = time.perf_counter()
    await asyncio.gather(*(loop(c, began + seconds) for c in clients))
    return Result(name, len(latencies), errors, time.perf_counter() - began, latencies)


async def run_all(base: str, key: str, offer_id: str, n: int, seconds: float, rounds: int) -> list[Result]:
    """Measure the three ways in alternating rounds, so a change in background load hits all of them."""
    headers = {"X-Auth-Token": key}
    raw_body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": TOOL, "arguments": {"id": offer_id}},
    }
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=base, headers={**headers, **ACCEPT}))

        async def http_read() -> bool:
            return (await http.get(f"/preorders/offers/{offer_id}")).status_code == 200

        async def raw_tool_call() -> bool:
            response = await http.post("/mcp", json=raw_body)
            return response.status_code == 200 and not response.json()["result"].get("isError")

        # One SDK session per client, each with its own connection, as separate agents would have.
        sessions: list[ClientSession] = []
        for _ in range(n):
            client = await stack.enter_async_context(create_mcp_http_client(headers=headers))
            read, write = await stack.enter_async_context(streamable_http_client(base + "/mcp", http_client=client))
            session = await stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
            await session.list_tools()  # what an agent does first; also primes the output-schema cache
            sessions.append(session)

        def tool_call(session: ClientSession) -> Call:
            async def call() -> bool:
                return not (await session.call_tool(TOOL, {"id": offer_id})).is_error

            return call

        ways: dict[str, list[Call]] = {
            "http": [http_read] * n,
            "mcp raw": [raw_tool_call] * n,
            "mcp sdk": [tool_call(s) for s in sessions],
        }
        totals = {name: Result(name, 0, 0, 0.0, []) for name in ways}
        for _ in range(rounds):
            for name, clients in ways.items():
                part = await measure(name, clients, seconds / rounds, warmup=0.3)
                total = totals[name]
                total.calls += part.calls
                total.errors += part.errors
                total.seconds += part.seconds
                total.latencies_ms += part.latencies_ms
        return list(totals.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per way (default 5)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients/sessions (default 4)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds the duration is split into")
    args = parser.parse_args()
    if args.duration * 3 + args.rounds * 3 * 0.3 > 45:
        parser.error("keep the run under a minute: --duration is per way, and there are three ways")

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_cpu = cpus[0] if len(cpus) >= 2 else None
    if server_cpu is not None:
        os.sched_setaffinity(0, set(cpus[1:]))  # the clients stay off the server's core

    with tempfile.TemporaryDirectory(prefix="openstoq-mcp-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSTOQ_")}
        env.update(
            OPENSTOQ_DATA_DIR=str(Path(tmp) / "data"),
            OPENSTOQ_RATE_LIMIT_POINTS=str(10**9),
            OPENSTOQ_LOG_LEVEL="warning",
        )
        created = subprocess.run(
            [str(BIN / "openstoq"), "shops", "create", "bench.myshopify.com", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        key = json.loads(created.stdout)["api_key"]
        server = openstoq_serve(env, Path(tmp) / "serve.log", cpu=server_cpu)
        base = f"{server.url}{API}"
        try:
            offer = httpx.post(f"{base}/preorders/offers", json={"name": "Bench"}, headers={"X-Auth-Token": key})
            offer.raise_for_status()
            results = asyncio.run(run_all(base, key, offer.json()["id"], args.clients, args.duration, args.rounds))
        finally:
            server.stop()

    pinning = f"server on CPU {server_cpu}, clients on {cpus[1:]}" if server_cpu is not None else "no CPU pinning"
    print(f"{TOOL}: {args.duration:g} s per way in {args.rounds} rounds, {args.clients} clients, SQLite, {pinning}")
    print(f"{'way':<9} {'calls':>7} {'errors':>6} {'calls/s':>9} {'p50 ms':>8}")
    for r in results:
        print(f"{r.name:<9} {r.calls:>7} {r.errors:>6} {r.rate:>9.1f} {r.p50:>8.2f}")
    by = {r.name: r for r in results}
    http_rate = by["http"].rate
    print(f"ratio mcp sdk / http: {by['mcp sdk'].rate / http_rate:.2f}")
    print(f"ratio mcp raw / http: {by['mcp raw'].rate / http_rate:.2f}")
    if any(r.errors for r in results):
        sys.exit("some calls failed; see the errors column")


if __name__ == "__main__":
    main()
