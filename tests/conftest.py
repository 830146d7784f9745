"""Fixtures shared by the test modules of one session, and the session spread over the
machine's cores.

The parity modules train every twin in subprocesses (tests/parity_trace.py), and starting
a framework costs seconds of CPU (TensorFlow about 5): each module names what it needs
traced, and the session traces the union once, in one process per implementation.

Where pytest-xdist is installed (dependency group ``test``), plain ``pytest`` runs the
tests in one worker process per core (at most ``MAX_WORKERS``); ``-n 0`` runs them here,
``-n N`` in N workers. Each worker is a session of its own, with its own session- and
module-scoped fixtures and module-level caches: so every module's tests run in one worker,
one after another, and the modules of a group (``GROUPS``) share one worker: the parity
modules, which trace once, and the modules that read the same built reports.
"""

import os
import shutil
import signal

import pytest

from tests.helpers import compile_cache_env, framework_env, run_parity_traces


def _requested(session, name: str) -> list:
    """What the modules of the tests this session runs name in their attribute ``name``,
    each once, in the modules' order."""
    wanted = []
    modules = dict.fromkeys(item.module for item in session.items
                            if getattr(item, "module", None) is not None)
    for module in modules:
        wanted += [entry for entry in getattr(module, name, ()) if entry not in wanted]
    return wanted


@pytest.fixture(scope="session")
def parity_traces(request, tmp_path_factory) -> dict[str, dict]:
    """Over the modules of this session's tests: ``NAME:MODE`` -> that mode's trace for
    every label of their ``TRACE_LABELS`` (at tests/parity_trace.py's spec), or its
    refusal (``{"refused": reason}``) for every label of ``TRACE_REFUSED``; and ``NAME``
    -> the arrays of every regime of ``TRACE_REGIMES`` (keys ``REGIME/...``) for numpy and
    each installed twin; and ``NAME>module.function`` -> that function's JSON answer for
    ``NAME``, called in ``NAME``'s process, for every entry of ``TRACE_CALLS``."""
    session = request.session
    out_dir = tmp_path_factory.mktemp("parity")
    # Inductor compiles in a pool of worker processes by default, each of which imports torch
    # (seconds of CPU apiece) to compile the few small kernels of this net: compiled in the
    # tracing process itself, the same kernels cost about 10 s less CPU per session. Its
    # cache is inductor's own (TORCHINDUCTOR_CACHE_DIR where the caller sets one, else its
    # folder in the temporary directory), kept between sessions: a later session finds the
    # kernels compiled (about 35 s less CPU). Dynamo still traces every graph and recompiles
    # for the last, smaller batch; only the C++ of an unchanged graph at an unchanged torch
    # is reused. (The benchmark's workers compile cold, each run in caches of its own.)
    # jax (and Keras on jax) keep their XLA executables the same way, in jax's persistent
    # cache (tests.helpers.compile_cache_env): a later session saves about 12 s of CPU.
    env = framework_env(tmp_path_factory, TORCHINDUCTOR_COMPILE_THREADS="1",
                        **compile_cache_env())
    return run_parity_traces(_requested(session, "TRACE_LABELS"),
                             _requested(session, "TRACE_REGIMES"), out_dir, env,
                             refused=_requested(session, "TRACE_REFUSED"),
                             calls=_requested(session, "TRACE_CALLS"))


def _build_case(case: str, folder):
    """Build ``case``'s result file and report in ``folder``; return the report folder."""
    from reports.build import build_report
    from tests import format2
    from tests.report_cases import build_hostile_report, realistic_run, write

    if case == "hostile":  # report_cases.hostile_run, its report in folder / "report"
        return build_hostile_report(folder)
    if case == "realistic":  # report_cases.realistic_run, its report in folder / "report"
        return build_report(write(realistic_run(), folder, "results.json"), folder / "report")
    if case == "sweep":  # test_scaling.sweep_run: results.json and its report in folder
        from tests.test_scaling import sweep_run

        return build_report(format2.write(folder / "results.json", sweep_run()), folder)
    raise ValueError(f"no report case {case!r}")


@pytest.fixture(scope="session")
def report_copy(tmp_path_factory):
    """``report_copy(case)``: the report folder of a fresh copy of the folder that ``case``
    (hostile, realistic or sweep, ``_build_case``) builds, result file and all. Each case is
    built once per session (a build draws and encodes every plot: seconds of CPU), and the
    modules that read it (``RENDERED_MODULES``) share a worker; each caller gets a copy of
    its own to add files to (pdflatex's) or change."""
    built = {}

    def copy(case: str):
        if case not in built:
            folder = tmp_path_factory.mktemp(f"built-{case}")
            built[case] = (folder, _build_case(case, folder))
        folder, report = built[case]
        out = tmp_path_factory.mktemp(case)
        shutil.copytree(folder, out, dirs_exist_ok=True)
        return out / report.relative_to(folder)

    return copy


# Each worker imports the frameworks its tests use (about 1.5 GB resident with all of them):
# more workers than this cost memory for little time, as the parity traces, which take
# a worker for most of the session, run two processes at a time anyway.
MAX_WORKERS = 4
# The modules whose tests share the session's parity traces (``parity_traces``): test_api
# asks the trace processes for its Keras twins' outcomes.
PARITY_MODULES = ("test_parity.py", "test_parity_edges.py", "test_parity_width.py",
                  "test_api.py")
# The modules that read the reports ``report_copy`` builds, in one worker (its session
# builds each once).
RENDERED_MODULES = ("test_report_latex.py", "test_report_html.py", "test_report_tables.py",
                    "test_scaling.py")
GROUPS = {**dict.fromkeys(PARITY_MODULES, "parity"),
          **dict.fromkeys(RENDERED_MODULES, "rendered reports")}
# The longest modules and groups, longest first (``pytest --durations``, two cores): a worker takes
# the next module when it runs out, in the order collected, so these start first and the
# short ones fill the gaps at the end.
LONGEST_FIRST = ("parity", "test_bench_e2e.py", "test_distributed.py",
                 "test_result_variants.py", "rendered reports", "test_variants.py",
                 "test_cost.py", "test_reports.py", "test_conventions.py", "test_packaging.py",
                 "test_shard_merge.py")


def _xdist_default(config) -> bool:
    """Whether this is plain ``pytest`` of the tests where pytest-xdist can spread them: no
    ``-n`` or ``--dist`` given; not the benchmark suite (which runs its rows in workers of
    its own); nothing but running tests asked for; no debugger and no uncaptured output (a
    worker's output is not shown)."""
    option = config.option
    return (config.pluginmanager.hasplugin("xdist")
            and not hasattr(config, "workerinput")  # a worker itself
            and option.numprocesses is None and option.dist == "no"
            and not config.getoption("benchmark", False)
            and not any(getattr(option, name, False) for name in (
                "collectonly", "help", "markers", "showfixtures", "show_fixtures_per_test",
                "usepdb", "trace"))
            and option.capture != "no")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the options
def pytest_cmdline_main(config):
    if _xdist_default(config):
        workers = min(len(os.sched_getaffinity(0)), MAX_WORKERS)
        if workers > 1:
            config.option.numprocesses = workers
            config.option.dist = "load"
            config.option.tx = ["popen"] * workers


def pytest_configure(config):
    # A shell that starts a job in the background (`pytest &`, nohup in a script) leaves
    # SIGINT ignored, and every process the tests start inherits that: the tests that send
    # SIGINT to a run would then see it ignored. Ctrl-C as a user's terminal delivers it is
    # what they test, so SIGINT gets Python's own handler back (children start with the
    # default, which Python turns into KeyboardInterrupt).
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if hasattr(config, "workerinput"):
        # The pytest runs that tests start (`pytest --benchmark` as a user runs it) inherit
        # this environment: pytest-benchmark reads PYTEST_XDIST_WORKER and switches itself
        # off under xdist, which a user's run is not.
        for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT",
                     "PYTEST_XDIST_TESTRUNUID"):
            os.environ.pop(name, None)


def _group(nodeid: str) -> str:
    """The module that a test belongs to, or its group (``GROUPS``)."""
    path = nodeid.split("::", 1)[0]
    return GROUPS.get(path.rsplit("/", 1)[-1], path)


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # before pytest-xdist's own choice
def pytest_xdist_make_scheduler(config, log):
    """``-n``'s load balancing with whole modules as the unit: a worker takes the next
    module, in the order collected, when it has two tests left."""
    if config.getvalue("dist") != "load":
        return None  # --dist given: as asked
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return _group(nodeid)

    config.option.loadscopereorder = False  # LONGEST_FIRST's order, not the test counts'
    return ModuleScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    """The longest modules first (``LONGEST_FIRST``); the order within a module is kept.
    (The benchmark suite, ``pytest --benchmark``, keeps its own order.)"""
    if config.getoption("benchmark", False):
        return

    def rank(item):
        group = _group(item.nodeid)
        group = group if group in GROUPS.values() else group.rsplit("/", 1)[-1]
        return LONGEST_FIRST.index(group) if group in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: collection order within a rank
