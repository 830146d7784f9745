"""The frameworks' structure: a plumbing module per framework, tagged variants, load()'s errors."""

import inspect
import re

import pytest

from benchmarks.plan import TAGS, TUNED_NOTES, VARIANTS
from benchmarks.runner import nvidia_gpu_visible
from frameworks import IMPLEMENTATIONS, SimpleNetSpec, load
from frameworks.backends import INTERFACE, MODULES, backend
from frameworks.variants import TAG_NAMES
from tests.helpers import run_python


def test_every_registered_framework_has_a_plumbing_module_with_the_same_functions():
    frameworks = {impl.framework for impl in IMPLEMENTATIONS.values()}
    assert frameworks <= set(MODULES)
    signatures = {}
    for framework in MODULES:
        module = backend(framework)
        # (isidentifier: pytest's assertion rewriting adds "@py_builtins" to modules of a
        # distribution that provides a plugin, as this one does)
        names = [n for n in vars(module) if n.isidentifier() and not n.startswith("_")
                 and n not in {"annotations", "os", "DeviceUnavailable"}]
        assert sorted(names) == sorted(INTERFACE), framework
        signatures[framework] = {n: str(inspect.signature(getattr(module, n)))
                                 for n in INTERFACE if callable(getattr(module, n))}
    # the same arguments in every module, so that callers never ask which framework
    assert len({tuple(sorted(s.items())) for s in signatures.values()}) == 1


def test_an_unknown_framework_has_no_plumbing():
    with pytest.raises(ValueError, match="no plumbing module for framework 'mxnet'"):
        backend("mxnet")


def test_numpy_plumbing_without_a_gpu():
    numpy = backend("numpy")
    assert numpy.gpu_peak_bytes(numpy.gpu_peak_reset()) is None
    assert numpy.device_name("cpu") == "cpu"
    numpy.check_device("cpu")
    with pytest.raises(RuntimeError, match="numpy runs on the CPU only"):
        numpy.check_device("cuda")


def test_every_variant_is_tagged_and_every_tuned_one_says_what_it_changes():
    assert set(TAGS) == set(VARIANTS)
    assert set(TAGS.values()) <= set(TAG_NAMES)
    tuned = {v for v, t in TAGS.items() if t == "tuned"}
    assert set(TUNED_NOTES) == tuned
    assert all(TUNED_NOTES[v].strip() and "\n" not in TUNED_NOTES[v] for v in tuned)
    for impl in {impl for impl, _ in VARIANTS.values()}:  # a row to compare the tuned one with
        assert any(TAGS[v] in ("course", "idiomatic") for v, (i, _) in VARIANTS.items()
                   if i == impl), impl


def test_every_mode_of_the_registry_is_a_variant():
    from benchmarks.plan import SINGLE_TWINS

    registered = {(name, mode) for name, impl in IMPLEMENTATIONS.items() for mode in impl.modes}
    # the single-process twins of data-parallel rows train in the course's mode
    assert registered == {VARIANTS[v] for v in VARIANTS if v not in SINGLE_TWINS.values()}


def test_cuda_graphs_rows_exist_on_cuda_only():
    from benchmarks.options import make_plan

    rows = make_plan("default", impl="torch").rows()
    graphs = [r for r in rows if r.mode == "compile-step-cudagraphs"]
    assert graphs and {r.device for r in graphs} == {"cuda"}
    with pytest.raises(ValueError, match="torch compile-step-cudagraphs cannot run on 'cpu'"):
        load("torch", mode="compile-step-cudagraphs")


def test_load_with_something_else_than_a_spec_is_a_type_error():
    with pytest.raises(TypeError, match="spec must be a frameworks.SimpleNetSpec"):
        load("numpy", "not a spec")
    with pytest.raises(TypeError, match="got dict"):
        load("numpy", {"batch_size": 32})
    assert load("numpy", SimpleNetSpec(batch_size=8)).spec.batch_size == 8


@pytest.mark.skipif(nvidia_gpu_visible(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_one_documented_error_for_every_framework():
    names = [n for n, impl in IMPLEMENTATIONS.items() if "cuda" in impl.devices]
    result = run_python(
        "from frameworks import load, DeviceUnavailable\n"
        f"for name in {names!r}:\n"
        "    try:\n"
        "        load(name, device='cuda')\n"
        "    except DeviceUnavailable as err:\n"
        "        print(name, 'UNAVAILABLE', err)\n")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == names
    assert all("UNAVAILABLE" in line and "sees no" in line for line in lines)


def test_a_mode_the_framework_refuses_is_a_skipped_row_with_its_reason():
    """keras-torch fit-spe: Keras 3.15 refuses steps_per_execution on torch; the row says so."""
    from benchmarks.options import make_plan
    from benchmarks.plan import Row
    from benchmarks.runner import run_process

    row = Row("keras-torch", "fit-spe", "cpu", 32)  # 32 steps per epoch: spe 32
    outcome = run_process(row, make_plan("quick", impl="keras-torch-fit-spe", n_train="1000",
                                         batch_size="32"))
    assert outcome.status == "skipped"
    assert "steps_per_execution" in outcome.reason and "PyTorch backend" in outcome.reason


def test_jax_scan_handles_epochs_shorter_than_a_batch_and_exact_multiples():
    """The scan's partial-batch step: n < batch (no scan step), n = 2 batches (no extra step)."""
    result = run_python(
        "import numpy as np\n"
        "from frameworks import SimpleNetSpec, load, make_dataset\n"
        "for n in (20, 64, 75):\n"
        "    spec = SimpleNetSpec(n_train=n, batch_size=32, seed=3)\n"
        "    X, y = make_dataset(spec).epoch_arrays(0)\n"
        "    nets = [load('numpy', spec), load('jax', spec, mode='loop'),\n"
        "            load('jax', spec, mode='scan')]\n"
        "    losses = [net.train_epoch(X, y) for net in nets]\n"
        "    gap = max(float(np.max(np.abs(a - b))) for net in nets[1:]\n"
        "              for a, b in zip(net.get_weights(), nets[0].get_weights()))\n"
        "    moved = max(float(np.max(np.abs(a - b))) for a, b in\n"
        "                zip(nets[0].get_weights(), load('numpy', spec).get_weights()))\n"
        "    print(n, max(abs(l - losses[0]) for l in losses), gap, moved)\n")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["20", "64", "75"]
    for line in lines:
        n, loss_gap, weight_gap, moved = line.split()
        assert float(loss_gap) <= 1e-6 and float(weight_gap) <= 1e-6, line
        assert float(moved) > 1e-4, line  # the epoch did train


def test_the_jax_twin_compiles_each_step_shape_once():
    """Steady epochs must not recompile: an uncommitted optimiser state once made them."""
    result = run_python(
        "import jax\n"
        "jax.config.update('jax_log_compiles', True)\n"
        "from frameworks import SimpleNetSpec, initial_weights, load, make_dataset\n"
        "spec = SimpleNetSpec(n_train=600, batch_size=256)\n"
        "data = make_dataset(spec)\n"
        "for mode in ('scan', 'loop'):\n"
        "    net = load('jax', spec, mode=mode)\n"
        "    for epoch in range(3):\n"
        "        net.train_epoch(*data.epoch_arrays(epoch))\n"
        "    net.set_weights(initial_weights(spec))\n"
        "    net.train_epoch(*data.epoch_arrays(0))\n")
    assert result.returncode == 0, result.stderr[-2000:]
    compiles = [line for line in result.stderr.splitlines() if "Compiling jit(train_" in line]
    # scan: one epoch function; loop: the full batch and the last partial batch. The name is
    # read after "Compiling": jax 0.7 puts a timestamp first in its log lines.
    assert [re.search(r"Compiling (jit\(\w+\))", line).group(1) for line in compiles] == \
        ["jit(train_epoch_scan)", "jit(train_step)", "jit(train_step)"]


def test_the_jax_clip_passes_the_gradient_whole_on_its_bounds_as_torch_and_numpy_do():
    result = run_python(
        "import jax, jax.numpy as jnp\n"
        "from frameworks.base import PROB_EPSILON\n"
        "from frameworks.jax_twin import clip_probabilities\n"
        "grad = jax.grad(clip_probabilities)\n"
        "points = [PROB_EPSILON, 1 - PROB_EPSILON, 0.5, 1.0, 0.0]\n"
        "print(*[float(grad(jnp.float32(p))) for p in points])\n")
    assert result.returncode == 0, result.stderr[-2000:]
    assert [float(g) for g in result.stdout.split()] == [1.0, 1.0, 1.0, 0.0, 0.0]
