"""Export throughput and memory: a 1,000,000-row CSV export through a real ``openstoq serve``.

Seeds a million variants attached to one offer straight into a fresh database (SQLite data dir by
default, a fresh PostgreSQL database with ``--postgres``), starts ``openstoq serve`` (embedded
workers), then:

1. POSTs ``/preorders/product_variants/export`` and polls until ``ready``: rows/s;
2. downloads the file through its signed link, streaming, counting rows: MB/s;

while sampling the serving process's resident memory (VmRSS) every 50 ms. It reports the largest
sample during the export and the download, and VmHWM (the process's peak RSS since it started),
which must stay under 150 MB: pages are read in keyset chunks and the file streams from disk, so
memory must not grow with the row count.

    .venv/bin/python benchmarks/export_rows.py                 # SQLite, 1,000,000 rows
    .venv/bin/python benchmarks/export_rows.py --postgres
    .venv/bin/python benchmarks/export_rows.py --rows 200000
"""

from __future__ import annotations

import argparse
import threading
import time

import httpx

from job_bench import BASE_PATH, cpu_seconds, new_shop, proc_status, seed, serve, wait_for_job, workspace

LIMIT_MB = 150


class RssSampler(threading.Thread):
    """The largest VmRSS of ``pid`` seen while running (in kB)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self._done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.05):
            self.peak_kb = max(self.peak_kb, proc_status(self.pid)["VmRSS"])

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak_kb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--deadline", type=float, default=900, help="seconds the export may take before giving up")
    args = parser.parse_args()
    backend = "postgresql" if args.postgres else "sqlite"

    with workspace(backend) as env:
        shop = new_shop(env)
        started = time.monotonic()
        seed(env, shop["shop_id"], range(1, args.rows + 1), offer=True)
        print(f"seeded {args.rows} variants on {backend} in {time.monotonic() - started:.1f} s", flush=True)
        with serve(env) as server:
            pid = server.proc.pid
            headers = {"X-Auth-Token": shop["api_key"]}
            idle_kb = proc_status(pid)["VmRSS"]

            sampler = RssSampler(pid)
            sampler.start()
            cpu_before, started = cpu_seconds(pid), time.monotonic()
            response = httpx.post(f"{server.url}{BASE_PATH}/preorders/product_variants/export", headers=headers)
            response.raise_for_status()
            done = wait_for_job(server.url, headers, response.json()["status_url"], started + args.deadline)
            export_s, export_cpu = time.monotonic() - started, cpu_seconds(pid) - cpu_before
            export_peak_kb = sampler.stop()
            if done["status"] != "ready" or done["row_count"] != args.rows:
                raise RuntimeError(f"export ended {done}")

            sampler = RssSampler(pid)
            sampler.start()
            started, size, lines = time.monotonic(), 0, 0
            with httpx.stream("GET", server.url + done["download_url"], timeout=120) as download:
                download.raise_for_status()
                for chunk in download.iter_bytes():
                    size += len(chunk)
                    lines += chunk.count(b"\n")
            download_s = time.monotonic() - started
            download_peak_kb = sampler.stop()
            hwm_kb = proc_status(pid)["VmHWM"]
        if lines != args.rows + 1:
            raise RuntimeError(f"downloaded {lines} lines, expected {args.rows + 1}")

    mb = 1024
    print(f"\nexport   {args.rows} rows in {export_s:.1f} s: {args.rows / export_s:,.0f} rows/s", end="")
    print(f" (server CPU {export_cpu:.1f} s)")
    print(f"download {size / 1e6:.1f} MB in {download_s:.1f} s: {size / 1e6 / download_s:.0f} MB/s, {lines} lines")
    print(f"serving process RSS: idle {idle_kb / mb:.0f} MB, export peak {export_peak_kb / mb:.0f} MB,", end="")
    print(f" download peak {download_peak_kb / mb:.0f} MB, lifetime peak (VmHWM) {hwm_kb / mb:.0f} MB")
    verdict = "OK" if hwm_kb / mb < LIMIT_MB else "OVER"
    print(f"peak RSS {hwm_kb / mb:.0f} MB vs limit {LIMIT_MB} MB: {verdict}")


if __name__ == "__main__":
    main()
