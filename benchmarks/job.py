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

from benchmarks.options import OptionError, make_plan
from benchmarks.plan import TARGET_GAP


def job_for(impl: str, preset: str = "distributed", **overrides) -> dict:
    """The worker's job for the one row of variant ``impl`` that ``make_plan(preset, impl,
    **overrides)`` makes (the first seed, process 0, not pinned to CPUs). OptionError (one
    sentence) for a bad option, for more than one name in ``impl``, for an implementation of
    several variants, and for options that make more than one row of the variant."""
    names = [name.strip() for name in impl.split(",")]
    if len(names) > 1:
        raise OptionError(f"--impl: a job is one variant, got {impl!r}; write one job file "
                          "per variant")
    plan = make_plan(preset, impl=impl, **overrides)
    rows = [row for row in plan.rows() if row.variant == names[0]]
    if not rows:
        raise OptionError(f"--impl: {impl!r} names several variants "
                          f"({', '.join(plan.variants)}); name one of them")
    if len(rows) > 1:
        raise OptionError(f"--batch-size, --device: a job is one row, and these make "
                          f"{len(rows)} ({', '.join(row.id for row in rows)}); give one of each")
    return {"row": dataclasses.asdict(rows[0]),
            "plan": plan.to_dict() | {"target_gap": TARGET_GAP},
            "index": 0, "seeds": list(plan.seeds_for(0)), "cpus": None}


# Each option's meaning, as the benchmark's own option (README, "Options").
HELP = {
    "device": "cpu or cuda (default cpu)",
    "batch-size": "the global batch size of the row, one number (e.g. 1024)",
    "epochs": "training epochs per seed",
    "seeds": "seeds to train, comma-separated (the job holds the first process's share)",
    "n-train": "training samples",
    "threads": "threads per replica",
    "replicas": "replicas in all, over every machine of the job (default 2)",
}


def make_parser() -> argparse.ArgumentParser:
    """The command line's parser: every option with its help text."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.job",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", required=True,
                        help="one variant, e.g. torch-ddp, keras-jax-dp")
    parser.add_argument("--preset", default="distributed",
                        help="the preset whose defaults fill the options not given "
                             "(default distributed)")
    for option, text in HELP.items():
        parser.add_argument(f"--{option}", help=text)
    return parser


def main(argv=None) -> int:
    args = make_parser().parse_args(argv)
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
