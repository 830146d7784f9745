"""Resident workers: a row's worker process that stays alive after training to be sampled in
interleaved rounds (benchmarks/schedule.py), one timed epoch per ``sample`` command."""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from benchmarks.failure import telling_line
from benchmarks.plan import TARGET_GAP, Plan, Row, total_threads
from benchmarks.runner import (
    EXIT_GRACE_S,
    QUIET_PROGRESS_S,
    STDERR_TAIL_CHARS,
    Outcome,
    kill_group,
    pump_lines,
    reason_not_to_start,
    take_message,
    worker_env,
)


class ResidentWorker:
    """One worker process of a row that stays alive to be sampled in rounds (schedule.py).

    ``start`` starts it and waits until it has imported, built and trained its seeds
    (``ready``), or ``launch`` starts it and ``wait_ready`` waits in slices (several workers
    starting at once, each on CPUs of its own: ``Plan.startup_cpu_slots``); ``sample`` asks it
    for one timed epoch and waits for it; ``finish`` tells it
    to stop and returns its Outcome, as ``run_process`` does for a worker that is not
    resident. Each wait is limited by ``plan.worker_timeout_s``: a worker that runs past it,
    dies or refuses is finished with its status and the tail of its stderr, and answers no
    more samples. Nothing here raises for the worker's sake; KeyboardInterrupt passes
    through once ``kill`` has been called by the caller's cleanup.
    """

    def __init__(self, row: Row, plan: Plan, index: int, scratch_root: str,
                 sampled_with: tuple[str, ...] = (), on_progress=None, command=None):
        """``command`` replaces the worker's command line (the tests play a worker that
        crashes or hangs with it)."""
        self.row, self.plan, self.index = row, plan, index
        self.command = command
        self.on_progress = on_progress
        self.outcome = Outcome(row, "failed", index=index, seeds=plan.seeds_for(index),
                               sampled_with=tuple(sampled_with))
        self.proc: subprocess.Popen | None = None
        self.lines: queue.Queue = queue.Queue()
        self.ended = False  # its output closed, or it was stopped
        self.scratch_root = scratch_root
        self.scratch = self.stderr = None
        self.started = time.perf_counter()

    @property
    def alive(self) -> bool:
        """Ready for samples and not ended."""
        return self.outcome.ready and not self.ended

    def start(self, startup_cpus: list[int] | None = None) -> bool:
        """Start the worker and wait until it is ready; False when it is not (skipped, failed,
        timed out: ``finish`` then gives the reason)."""
        return self.launch(startup_cpus) and bool(self.wait_ready())

    def launch(self, startup_cpus: list[int] | None = None) -> bool:
        """Start the worker without waiting for it; False when it cannot start here (a CUDA
        row without a GPU: ``finish`` gives the reason).

        ``startup_cpus``: the CPUs it imports, builds and trains its seeds on, when they are
        not the ones it is sampled on (``Plan.cpus_for_worker``); it moves every thread to
        those before it says ready (worker.py), so that each timed sample still runs alone
        on the sampling CPUs."""
        row, plan = self.row, self.plan
        reason = reason_not_to_start(row, plan, self.command)
        if reason:
            self._end_without_worker(reason)
            return False
        cache = os.path.join(self.scratch_root, "cache", row.id)
        self.outcome.cold_cache = not os.path.isdir(cache)
        os.makedirs(cache, exist_ok=True)
        self.scratch = tempfile.mkdtemp(prefix=f"{row.id}-p{self.index}-", dir=self.scratch_root)
        os.makedirs(os.path.join(self.scratch, "tmp"))
        job = {"row": dataclasses.asdict(row),
               "plan": plan.to_dict() | {"target_gap": TARGET_GAP}, "index": self.index,
               "seeds": list(self.outcome.seeds),
               "cpus": plan.cpus_for_worker(total_threads(row, plan)), "resident": True}
        if startup_cpus is not None and startup_cpus != job["cpus"]:
            job["startup_cpus"] = list(startup_cpus)
        self.stderr = open(os.path.join(self.scratch, "stderr"), "w+")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            self.command or [sys.executable, "-P", "-m", "benchmarks.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.stderr, text=True, errors="replace",
            cwd=self.scratch, env=worker_env(row, plan, self.scratch, cache),
            start_new_session=True)
        threading.Thread(target=pump_lines, args=(self.proc.stdout, self.lines),
                         daemon=True).start()
        self._send(job)
        self.deadline = self.started + plan.worker_timeout_s
        return True

    def wait_ready(self, slice_s: float | None = None) -> bool | None:
        """Wait until the launched worker is ready: True; False when it never will be
        (skipped, failed, timed out: ``finish`` says why); None when ``slice_s`` seconds
        passed first (it is still starting; ask again). Its time limit runs from ``launch``."""
        if self.proc is None:
            return False
        return self._wait_for(lambda: self.outcome.ready, "to become ready",
                              deadline=self.deadline, slice_s=slice_s)

    def sample(self, position: int) -> float | None:
        """One timed epoch (seconds), ``position`` being the worker's place in this round;
        None when the worker cannot give it (then it has ended)."""
        if not self.alive:
            return None
        count = len(self.outcome.samples_epoch_s)
        self._send({"command": "sample", "position": position})
        if self._wait_for(lambda: len(self.outcome.samples_epoch_s) > count, "for a sample"):
            return self.outcome.samples_epoch_s[-1]
        return None

    def finish(self) -> Outcome:
        """Stop the worker (its result comes first) and return its Outcome."""
        outcome = self.outcome
        if self.proc is not None:
            if not self.ended:
                self._send({"command": "stop"})
                self._wait_for(lambda: outcome.status in ("ok", "skipped"), "for its result")
            self.kill()
            if outcome.status == "failed" and not outcome.reason:
                outcome.reason = f"worker exited with status {self.proc.returncode}"
            if outcome.status in ("failed", "timeout"):
                self.stderr.seek(0)
                tail = self.stderr.read()[-STDERR_TAIL_CHARS:].strip()
                outcome.stderr_tail = tail
                # A worker stopped for its time limit was not failing: its last line says
                # what it was doing, not why it failed.
                lead = ("; its stderr last said: " if outcome.status == "timeout" else ": ")
                outcome.reason += (f"{lead}{telling_line(tail)}\n--- worker stderr (tail) ---\n"
                                   f"{tail}" if tail else " (no stderr)")
            self.stderr.close()
            shutil.rmtree(self.scratch, ignore_errors=True)
        outcome.wall_s = time.perf_counter() - self.started
        return outcome

    def kill(self) -> None:
        """Kill the worker's process group and reap it (Ctrl-C, and after its result)."""
        self.ended = True
        if self.proc is not None and self.proc.returncode is None:
            kill_group(self.proc)

    def _end_without_worker(self, reason: str) -> None:
        self.outcome.status, self.outcome.reason, self.ended = "skipped", reason, True

    def _send(self, message: dict) -> None:
        try:
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass  # it has ended: the wait that follows says how

    def _wait_for(self, done, what: str, deadline: float | None = None,
                  slice_s: float | None = None) -> bool | None:
        """Read the worker's lines until ``done()``; False (and the worker ended) when it
        ends, runs past ``deadline`` (default: ``worker_timeout_s`` from now) or sends its
        result or a skip instead; None when ``slice_s`` seconds passed first."""
        if deadline is None:
            deadline = time.perf_counter() + self.plan.worker_timeout_s
        last_word = time.perf_counter()
        give_up = None if slice_s is None else last_word + slice_s
        while not done():
            if give_up is not None and time.perf_counter() >= give_up and \
                    self.outcome.status not in ("ok", "skipped") and not self.ended:
                return None
            if self.outcome.status in ("ok", "skipped") or self.ended:
                self.ended = True
                return done()
            now = time.perf_counter()
            try:
                wait_s = min(1.0, deadline - now) if give_up is None else \
                    min(deadline, give_up) - now
                line = self.lines.get(timeout=max(0.0, wait_s))
            except queue.Empty:
                now = time.perf_counter()
                if now >= deadline:
                    self.outcome.status = "timeout"
                    self.outcome.reason = (f"worker took longer than its time limit of "
                                           f"{self.plan.worker_timeout_s:g} s {what} "
                                           f"(--worker-timeout SECONDS raises it)")
                    self.kill()
                    return False
                if self.on_progress and now - last_word >= QUIET_PROGRESS_S:
                    last_word = now
                    self.on_progress(self.row, self.index,
                                     {"stage": "quiet", "elapsed_s": now - self.started})
                continue
            if line is None:  # its output closed: it has ended
                try:
                    self.proc.wait(timeout=EXIT_GRACE_S)
                except subprocess.TimeoutExpired:
                    pass
                self.ended = True
                return done()
            last_word = time.perf_counter()
            take_message(self.outcome, line, self.on_progress)
        return True
