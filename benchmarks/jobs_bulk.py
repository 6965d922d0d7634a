"""Bulk job throughput: 10,000 variants through a real ``openstoq serve`` with its embedded workers.

For each backend (a fresh SQLite data directory; a fresh PostgreSQL database) it seeds the variants
straight into the database, attached to one enabled offer, starts ``openstoq serve`` (default job
settings: batches of 100, 8 batches at a time per worker, queue polled every 50 ms), then times two
jobs from the POST to ``completed`` as seen by polling the status URL:

- ``bulk_recalculate_preorder_counts``: recount from order lines, then write every variant's
  metafields (the first sync writes all of them: the platform's write path dominates);
- ``bulk_sync_metafields`` over the same variants: nothing differs any more, so this is the job
  engine itself (dispatch, queue, batches, markers, progress) plus the reads that find no drift.

It prints items/s and the server's CPU time per 100 items (steadier than wall time on a busy machine).

    .venv/bin/python benchmarks/jobs_bulk.py                          # both backends, 10,000 variants
    .venv/bin/python benchmarks/jobs_bulk.py --backends sqlite --variants 2000
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import httpx

from job_bench import BASE_PATH, cpu_seconds, new_shop, seed, serve, wait_for_job, workspace

ACTIONS = ("bulk_recalculate_preorder_counts", "bulk_sync_metafields")


@dataclass(slots=True)
class Result:
    backend: str
    action: str
    items: int
    seconds: float
    cpu_seconds: float
    failed: int

    @property
    def rate(self) -> float:
        return self.items / self.seconds

    @property
    def cpu_ms_per_100(self) -> float:
        return self.cpu_seconds * 1000 / self.items * 100


def run(backend: str, count: int, deadline: float) -> list[Result]:
    results: list[Result] = []
    with workspace(backend) as env:
        shop = new_shop(env)
        ids = list(range(1, count + 1))
        seed(env, shop["shop_id"], ids, offer=True)
        with serve(env) as server:
            headers = {"X-Auth-Token": shop["api_key"]}
            for action in ACTIONS:
                cpu_before, started = cpu_seconds(server.proc.pid), time.monotonic()
                response = httpx.post(
                    f"{server.url}{BASE_PATH}/preorders/product_variants/{action}",
                    json={"variant_ids": ids},
                    headers=headers,
                    timeout=60,
                )
                response.raise_for_status()
                done = wait_for_job(server.url, headers, response.json()["status_url"], started + deadline)
                elapsed = time.monotonic() - started
                if done["status"] != "completed" or done["processed"] != count:
                    raise RuntimeError(f"{action} ended {done}")
                cpu = cpu_seconds(server.proc.pid) - cpu_before
                results.append(Result(backend, action, count, elapsed, cpu, done["failed"]))
                print(f"  {backend:<10} {action:<34} {count} items in {elapsed:6.1f} s", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--variants", type=int, default=10_000)
    parser.add_argument("--deadline", type=float, default=900, help="seconds one job may take before giving up")
    args = parser.parse_args()
    results = [r for b in args.backends.split(",") for r in run(b.strip(), args.variants, args.deadline)]
    print(f"\n{'backend':<10} {'job':<34} {'items':>6} {'seconds':>8} {'items/s':>8} {'cpu ms/100':>10}")
    for r in results:
        print(f"{r.backend:<10} {r.action:<34} {r.items:>6} {r.seconds:>8.1f} {r.rate:>8.0f} {r.cpu_ms_per_100:>10.0f}")


if __name__ == "__main__":
    main()
