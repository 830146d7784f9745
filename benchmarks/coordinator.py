"""The schedule of a `pytest --benchmark` run: every row's worker processes, interleaved, and
each finished process kept in the run's record (results.json is saved after every one).

Process set 0 of every block of rows, then set 1, ...: a block's workers stay resident and
are sampled in interleaved rounds (benchmarks/schedule.py); data-parallel rows and their
twins run one process at a time after each set of blocks; with ``--metric instructions``
the CPU rows are then counted under callgrind (benchmarks/cost.py).
"""

from __future__ import annotations

import time

from benchmarks import progress, schedule
from benchmarks import results as res
from benchmarks.plan import SINGLE_TWINS, Plan, Row, is_data_parallel
from benchmarks.resident import ResidentWorker
from benchmarks.runner import reason_not_to_start, run_process
from results import model, numbers, summary

# Rough seconds for the run-time estimate printed before a run: a worker's start (import,
# build; torch.compile's first epoch) and microseconds per step at small and large batches.
# Measured on the 2-core development machine with the default preset; only an estimate,
# refined by the ETA after every process.
# A worker's start to "ready" without its seeds' training, seconds: imports, build, the
# first epoch, as a quiet default run on the 2-core machine measured them (two starting at
# once there).
START_S = {"numpy": 1.0, "torch": 5.5, "keras-tensorflow": 10.0, "keras-jax": 10.0,
           "keras-torch": 15.0, "jax": 5.0}
# torch-compile-step: the README's cold compile of 15 to 30 s per process (its first epoch
# took twice torch-compile's in `pytest --benchmark --preset quick` here); loop-xla: its
# first epoch took 1.8 times fit-xla's in the same run.
EXTRA_FIRST_EPOCH_S = {"torch-compile": 15.0, "torch-compile-step": 30.0,
                       "keras-tensorflow-fit-xla": 3.0, "keras-tensorflow-loop-xla": 5.5,
                       "keras-jax-fit": 2.0}
# A row's first process also checks its twin against numpy in a child process that imports,
# builds and compiles as the worker does (worker_steps.check_equivalence): about one start
# more. The starts above are means over a default run's MEASURED_PROCESSES processes per
# row, one of which made the check, so a start without it is that mean times
# MEASURED_PROCESSES / (MEASURED_PROCESSES + 1). A default run's estimate stays as
# measured; a one-process run (the quick preset) pays the check on every row, which is what
# left its estimate short.
MEASURED_PROCESSES = 3
US_PER_STEP = {"small": 800.0, "large": 4000.0, "keras-fit-small": 2500.0}
# A step of each implementation at a small (<= 128) and a large batch, µs: the medians of
# a quiet default run on the 2-core development machine, rounded up (the ETA's scale; a
# busy machine is slower, and the progress lines' ETA follows what it measures).
US_PER_STEP_BY_IMPLEMENTATION = {
    "numpy": (80.0, 180.0), "torch": (450.0, 650.0), "keras-tensorflow": (1000.0, 5500.0),
    "keras-jax": (180.0, 450.0), "keras-torch": (2500.0, 2800.0), "jax": (10.0, 130.0)}


def check_valgrind(plan: Plan, warnings: list[str]) -> str | None:
    """The valgrind that ``--metric instructions`` runs; without one, ``warnings`` gains one
    sentence saying how to get it, and the time rows run alone."""
    from benchmarks import cost

    if plan.metric != "instructions":
        return None
    missing = cost.missing_requirement()
    if missing:
        warnings.append(missing)
        return None
    return cost.valgrind_path()


def start_without_check_s(row: Row) -> float:
    """A worker's start without the equivalence check, seconds (see MEASURED_PROCESSES)."""
    measured = START_S.get(row.implementation, 3.0) + EXTRA_FIRST_EPOCH_S.get(row.variant, 0.0)
    return measured * MEASURED_PROCESSES / (MEASURED_PROCESSES + 1)


def busy_factor(load: model.Load | dict | None) -> float:
    """How many times longer the run should take than on a quiet machine, from the load
    measured before it (results.json's ``environment.load_before``): 1 plus the share of the
    last 10 s in which a task waited for a CPU (/proc/pressure/cpu "some avg10"); 1 where
    the kernel does not report it.

    A worker that arrives is held back about as often, so each second of its work waits
    about that share of a second for a CPU (the wait per second that the workers record as
    starved, benchmarks/accounting.py). Pressure rather than the load average: Linux's
    autogroup shares the CPUs among sessions, not among runnable threads. On the 2-core
    development machine `pytest --benchmark --preset quick` (quiet estimate 4.6 min) took
    7 min 30 s at a load average of 2.4 (pressure 55%: 7.1 min by this factor), 7 min 26 s
    at 4.5 (86%: 8.5 min) and 3 min 58 s at 3.7 (19%: 5.4 min); the load average's own
    factor, (load + 1) / 2, gave 13 min for the second. The machine's own variation is as
    large as the correction: an estimate, refined by the ETA after every process.
    """
    pressure = (load or {}).get("cpu_pressure_some_avg10")
    return 1.0 if pressure is None else 1.0 + pressure / 100


class Coordinator:
    """Runs the schedule of ``rows`` and keeps each outcome in ``run`` (the results.json
    being written, a results.model.Run whose ``rows`` are ``rows``'s records in order):
    ``say(line)`` writes a progress line, ``save()`` saves the run."""

    def __init__(self, plan: Plan, run: model.Run, rows: list[Row], scratch: str,
                 say, save, valgrind: str | None = None):
        self.plan, self.run, self.rows, self.scratch = plan, run, rows, scratch
        self._say, self._save, self.valgrind = say, save, valgrind
        # For the progress lines and the ETA: when the schedule began, processes done, in all.
        self._began, self._done_count, self._total = time.perf_counter(), 0, 0
        self._estimated_s = self._credited_s = 0.0

    def record(self, row: Row) -> model.Row:
        """``row``'s record in the run (a results.json row, being written)."""
        return self.run.rows[self.rows.index(row)]

    def run_schedule(self, rows: list[Row]) -> None:
        """Every process of ``rows``: process set 0 of every block of rows, then set 1, ...

        The rows of a block (one comparison: device and sizes) are sampled together by
        resident workers (``_run_part``); a block that would not fit the memory budget is
        split (schedule.split_block). Data-parallel rows and their twins run one process at
        a time, sampled by their steady epochs, after each set of blocks.
        """
        processes = self.plan.processes
        resident = [row for row in rows if schedule.is_resident(row)]
        apart = [row for row in rows if not schedule.is_resident(row)]
        budget = schedule.memory_budget_bytes()
        parts = [part for block in schedule.blocks(resident)
                 for part in schedule.split_block(block, budget)]
        self.run.resources = model.Resources(
            memory_budget_bytes=budget, peak_resident_total_bytes=None,
            memory_method=schedule.RESIDENT_TOTAL_METHOD,
            sampled_together=[[row.id for row in part] for part in parts],
            interleaving=schedule.INTERLEAVING_TEXT,
            startup=schedule.startup_text(self.plan.startup_cpu_slots(self.plan.threads)))
        # The ETA scales what the estimate says is left by how the estimate has fared so
        # far: processes of a block all end together, after the block's whole time, so a
        # count of processes would promise the rest at the first one's pace.
        self._estimated_s, self._credited_s = self.estimate_s(rows), 0.0
        load = self.run.environment.load_before if self.run.environment is not None else None
        self._say(progress.start(len(rows) * processes,
                                 progress.estimate(self._estimated_s, busy_factor(load)),
                                 progress.groups(parts, budget / 2**30)))
        self._began, self._done_count, self._total = time.perf_counter(), 0, len(rows) * processes
        for index in range(processes):
            for part in parts:
                self._run_part(part, index)
            for row in apart:
                record = self.record(row)
                if index and record.status == "skipped":
                    # a row that cannot run here will not run in later processes (done:
                    # its share of the estimate is not left)
                    self._credited_s += self.process_estimate_s(row, index)
                    continue
                self._say(progress.starting(self._done_count + 1, self._total, row.id, index,
                                            processes))
                outcome = run_process(row, self.plan, index, on_progress=self._progress,
                                      scratch_root=self.scratch)
                self._credited_s += self.process_estimate_s(row, index)
                self._done(record, outcome, index)
        if self.plan.metric == "instructions" and self.valgrind:
            self._run_costs(rows)

    def _run_part(self, part: list[Row], index: int) -> None:
        """Process set ``index`` of the rows of ``part``: their workers start (several at
        once where the machine has CPUs for them: ``_start_workers``), then answer
        ``plan.rounds`` rounds of one timed epoch each, alone, in a fresh random order every
        round (schedule.round_orders), and stop. Ctrl-C or SIGTERM kill every worker of the
        part."""
        skipped = [row for row in part if index and self.record(row).status == "skipped"]
        self._credited_s += sum(self.process_estimate_s(row, index) for row in skipped)
        part = [row for row in part if row not in skipped]
        if not part:
            return
        ids = tuple(row.id for row in part)
        workers = [ResidentWorker(row, self.plan, index, self.scratch, sampled_with=ids,
                                  on_progress=self._progress) for row in part]
        try:
            self._start_workers(workers, index)
            live = [worker for worker in workers if worker.alive]
            if live:
                self._say(progress.sampling(len(live), self.plan.rounds))
            # Seeded by the process set: a run's order can be replayed.
            for order in schedule.round_orders(len(live), self.plan.rounds, seed=index):
                for position, i in enumerate(order):
                    live[i].sample(position)
                self._note_memory()
            self._credited_s += sum(self.process_estimate_s(row, index) for row in part)
            for worker in workers:
                self._done(self.record(worker.row), worker.finish(), index)
        finally:
            for worker in workers:
                worker.kill()

    def _start_workers(self, workers: list[ResidentWorker], index: int) -> None:
        """Start ``workers`` in their order, as many at once as ``Plan.startup_cpu_slots``
        has CPU sets, each on a set of its own, and wait until each is ready or has ended."""
        slots = self.plan.startup_cpu_slots(self.plan.threads)
        waiting, starting = list(workers), {}  # slot number -> the worker starting on it
        launched = 0
        while waiting or starting:
            for slot in range(len(slots)):
                if slot in starting or not waiting:
                    continue
                worker = waiting.pop(0)
                launched += 1
                self._say(progress.starting(self._done_count + launched, self._total,
                                            worker.row.id, index, self.plan.processes))
                if worker.launch(slots[slot] if len(slots) > 1 else None):
                    starting[slot] = worker
            for slot, worker in list(starting.items()):
                ready = worker.wait_ready(slice_s=None if len(starting) == 1 else 0.05)
                if ready is None:
                    continue
                del starting[slot]
                if ready:
                    self._say(progress.ready(worker.row.id,
                                             time.perf_counter() - worker.started))
                self._note_memory()

    def _done(self, record: model.Row, outcome, index: int) -> None:
        """Keep one finished process of a row, and say how it went (with an ETA)."""
        self._done_count += 1
        process = outcome.record()
        self._take(record, process, outcome.stderr_tail)
        eta = self.eta_s()
        us_per_step = starved_reason = None
        if outcome.status == "ok":
            us_per_step = summary.process_us_per_step(process)
            starved_reason = process.cpu.starved_reason if process.cpu.starved else None
        self._say(progress.process_done(outcome.row.id, index, self.plan.processes,
                                        outcome.status, outcome.wall_s, eta, us_per_step,
                                        starved_reason, outcome.reason))
        if index == self.plan.processes - 1:
            self._row_finished(record)

    def eta_s(self) -> float:
        """Seconds left, about: what the estimate says is left, times how long the processes
        done so far took over what the estimate gave them (the count of processes left at
        the pace so far where nothing was estimated)."""
        elapsed_s = time.perf_counter() - self._began
        if self._credited_s > 0:
            return elapsed_s / self._credited_s * max(self._estimated_s - self._credited_s, 0)
        return elapsed_s / max(self._done_count, 1) * (self._total - self._done_count)

    def _note_memory(self) -> None:
        """Keep the run's peak total resident memory (schedule.resident_total_bytes)."""
        total = schedule.resident_total_bytes()
        resources = self.run.resources
        if resources.peak_resident_total_bytes is None or \
                total > resources.peak_resident_total_bytes:
            resources.peak_resident_total_bytes = total

    def _take(self, record: model.Row, process: model.Process, stderr_tail: str) -> None:
        """Add ``process`` to the row's record, summarise every row again (the ratios to
        torch loop move with it) and save."""
        record.processes.append(process)
        record.status, record.reason = res.row_status(record, self.plan.processes)
        if stderr_tail:
            record.stderr_tail = stderr_tail
        summary.summarize_all(self.run.rows, SINGLE_TWINS)
        self.run.flags = summary.flag_differences(
            {r.id: r.ok_processes()[0].settings for r in self.run.rows if r.summary})
        self._save()

    def _row_finished(self, record: model.Row) -> None:
        s = record.summary
        if s is None:
            return
        self._say(progress.row_done(record.id, s))
        if s.unstable:
            self._say(progress.unstable(record.id, s.unstable_reasons))

    def _progress(self, row, index, message):
        if message.get("stage") == "quiet":
            self._say(progress.quiet(message["elapsed_s"]))
        elif message.get("stage") == "epoch" and message["epoch"] == message["epochs"]:
            self._say(progress.seed_trained(message["seed"], message["epochs"],
                                            message["epoch_s"], message["test_accuracy"]))

    def estimate_s(self, rows) -> float:
        """About how long the workers of ``rows`` take, seconds (``process_estimate_s`` of
        each of their processes)."""
        return sum(self.process_estimate_s(row, index) for row in rows
                   for index in range(self.plan.processes))

    def process_estimate_s(self, row: Row, index: int) -> float:
        """About how long process ``index`` of ``row`` takes, seconds: its start (import,
        build, first epoch; the first process's equivalence check) and its seeds' training,
        shared among the workers that start at once, and every sampled epoch, one at a
        time; 0 for a row skipped before its worker starts (runner.reason_not_to_start)."""
        if reason_not_to_start(row, self.plan):  # skipped before a worker starts
            return 0.0
        starting = len(self.plan.startup_cpu_slots(self.plan.threads))
        small = row.batch_size <= 128
        us = US_PER_STEP["small" if small else "large"]
        if small and row.implementation.startswith("keras") and "fit" in row.mode:
            us = US_PER_STEP["keras-fit-small"]
        if row.implementation in US_PER_STEP_BY_IMPLEMENTATION and row.device == "cpu":
            us = US_PER_STEP_BY_IMPLEMENTATION[row.implementation][0 if small else 1]
        seeds = len(self.plan.seeds_for(index))
        steps = -(-(row.n_train or self.plan.n_train) // row.batch_size)
        trained = self.plan.epochs_for(row) * seeds
        start_s = start_without_check_s(row) * (
            2 if index == 0 and not is_data_parallel(row.variant) else 1)
        if schedule.is_resident(row):  # starts and trains beside others, then sampled
            return ((start_s + trained * steps * us / 1e6) / starting
                    + self.plan.rounds * steps * us / 1e6)
        return start_s + max(trained, self.plan.rounds + 1) * steps * us / 1e6

    def _run_costs(self, rows) -> None:
        """Count the rows' steps under callgrind, after every timed process; results.json is
        saved after each cost process, as after each timed one."""
        from benchmarks import cost

        countable = [row for row in rows if cost.not_applicable_reason(row) is None]
        self._say(f"sidebyside: counting instructions per step under callgrind: "
                  f"{numbers.counted(len(countable), 'row')}, "
                  f"{numbers.counted(cost.COST_PROCESSES, 'process')} per variant, "
                  f"{cost.PARALLEL_COST_WORKERS} at a time")
        started = time.perf_counter()

        def heard(row, record, process):
            self.record(row).cost = record
            line = f"    cost {row.id} process {process.index + 1}: {process.status}"
            if process.status == "ok":
                line += f", {numbers.number(process.instructions_per_step)} instructions/step"
            elif process.reason:
                line += f": {process.reason.splitlines()[0]}"
            self._say(f"{line}, in {progress.duration(process.wall_s)}")
            self._save()

        costs = cost.run_cost_pass(rows, self.plan, self.scratch, on_cost=heard,
                                   valgrind=self.valgrind)
        for row in rows:
            self.record(row).cost = costs[row.id]
        self.run.cost_wall_s = time.perf_counter() - started
        self._save()
