"""Instructions per update of the bot and of the floor, counted by valgrind, not timed.

On a shared two-core machine the CPU time of the same update varies by ±25% from run to run
(other tenants' load), which hides any change smaller than that. The number of instructions
the process executes for it does not: two runs of the same commit agree within 0.5%. This
script runs the closed loop of `dispatch.py` (same harness, same fake Bot API server, by
default in a process of its own which callgrind does not follow, same database) for one
target under callgrind, with counting switched on only while the closed loop runs, and prints
one JSON line:

    bench/instructions.sh                  # both targets, SQLite; prints the ratio
    valgrind --tool=callgrind --instr-atstart=no … python bench/instructions.py --target bot

Instructions are not time: they do not see cache misses, system calls or waiting on threads,
so use them to compare two versions of the code, and `dispatch.py` for what a person waits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import dispatch  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.app import build_app  # noqa: E402
from bot.runners import settle_memory  # noqa: E402


def _callgrind(*arguments: str) -> None:
    """Tell the callgrind running this process what to do (no-op outside valgrind)."""
    if os.environ.get("BENCH_CALLGRIND"):
        subprocess.run(
            ["callgrind_control", *arguments, str(os.getpid())], check=True, capture_output=True
        )


async def run(args: argparse.Namespace) -> dict[str, object]:
    rng = random.Random(args.seed)
    names = dispatch.gmina_names(rng)
    async with (
        dispatch.database(args.database_url) as url,
        dispatch.telegram_side(args.telegram) as side,
    ):
        backend = make_url(url).get_backend_name()
        async with build_app(dispatch.bench_settings(url, side.base_url), prepare=True) as app:
            harness = dispatch.Harness(side, app.bot)
            phases = dispatch.Phases(app, side, harness, rng, names)
            [target] = [t for t in dispatch.make_targets(app, backend) if t.name == args.target]
            harness.watch_errors(target.dispatcher)
            await phases.warm_up(target)
            settle_memory()
            _callgrind("--instr=on")
            # Everyone to the end, for both targets: the same journeys, no time box.
            result = await phases.throughput(target, args.people)
            _callgrind("--instr=off")
            _callgrind("--dump=closed loop")
    return {
        "target": args.target,
        "updates": result.updates,
        "errors": result.errors,
        "people": args.people,
        "telegram": args.telegram,
        "database": "postgresql" if backend == "postgresql" else "sqlite",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--target", choices=("bot", "floor"), default="bot")
    parser.add_argument("--people", type=int, default=10)
    parser.add_argument("--database-url")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--telegram", choices=dispatch.PLACES, default="process")
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()
