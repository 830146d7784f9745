"""Write the job of one row for a worker started by hand: ``python -m benchmarks.job``.

The benchmark's own runner starts every worker on this machine. To run a data-parallel row
over several machines with its engine's own launcher (README, "Data parallel"), write the
row's job once, copy it to every machine, and point each worker at it with
``SIDEBYSIDE_JOB=job.json``; the worker whose rank is 0 prints the result as JSON lines.

    python -m benchmarks.job --impl torch-ddp --batch-size 1024 --replicas 4 > job.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from benchmarks.options import TARGET_GAP, OptionError, make_plan


def job_for(impl: str, preset: str = "distributed", **overrides) -> dict:
    """The worker's job for the first row that ``make_plan(preset, impl, **overrides)`` makes
    (the first seed, process 0, not pinned to CPUs); OptionError for a bad option."""
    plan = make_plan(preset, impl=impl, **overrides)
    row = plan.rows()[0]
    return {"row": dataclasses.asdict(row), "plan": plan.to_dict() | {"target_gap": TARGET_GAP},
            "index": 0, "seeds": list(plan.seeds_for(0)), "cpus": None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.job",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", required=True, help="one variant, e.g. torch-ddp")
    parser.add_argument("--preset", default="distributed")
    for option in ("device", "batch-size", "epochs", "seeds", "n-train", "threads",
                   "replicas"):
        parser.add_argument(f"--{option}")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k not in ("impl", "preset")
                 and v is not None}
    if args.device is None:
        overrides["device"] = "cpu"
    try:
        job = job_for(args.impl, args.preset, **overrides)
    except OptionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    json.dump(job, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
