"""``openstoq`` with every job batch slowed down, so an end-to-end test can act while a job runs.

    python -m tests.e2e.slow_batches serve --port 8123     # OPENSTOQ_E2E_BATCH_DELAY_SECONDS=0.25

Test-only: the delay lives here, in the tests, never in the product's settings.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from openstoq.cli.main import app
from openstoq.jobs import records

COMMAND = [sys.executable, "-m", "tests.e2e.slow_batches"]
DELAY = "OPENSTOQ_E2E_BATCH_DELAY_SECONDS"
ROOT = Path(__file__).resolve().parents[2]  # where ``python -m tests...`` must start


def slow_down(seconds: float) -> None:
    real = records.run_batch

    async def slowly(*args: Any) -> str:
        await asyncio.sleep(seconds)
        return await real(*args)

    records.run_batch = slowly  # type: ignore[assignment]


if __name__ == "__main__":
    slow_down(float(os.environ.get(DELAY, "0")))
    app(prog_name="openstoq")
