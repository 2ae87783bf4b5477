"""The scheduler stops gracefully: a job running at the stop finishes instead of being cancelled
half-way through (a database call cut in half)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.scheduler import Scheduler


async def test_a_running_job_finishes_before_the_scheduler_stops() -> None:
    started, finished = asyncio.Event(), asyncio.Event()

    async def job() -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.set()

    scheduler = Scheduler(timezone="UTC")
    scheduler.add_job(job, "date", run_date=datetime.now(UTC), id="slow")
    scheduler.start()
    await asyncio.wait_for(started.wait(), 5)
    await scheduler.stop()
    assert finished.is_set()
