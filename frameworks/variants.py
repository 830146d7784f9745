"""Every variant the suite times, said once: an implementation in one mode, with its tag, its
note, whether it is data-parallel and how its worker is started.

A variant is what a result row names (``torch-loop``, ``keras-jax-fit-spe``). The
implementation (``frameworks.IMPLEMENTATIONS``) says where a twin lives and which modes it
has; this registry says what the suite makes of each mode. ``benchmarks/plan.py``,
the runner, the worker and the reports ask it instead of keeping tables of their own.

Pure data with no imports of ours, so that any part of the suite can read it cheaply.
"""

from __future__ import annotations

import dataclasses

# What kind of driving a variant is, in the order the tables show them:
#   course:      the lesson's code as written (Keras rows: the same code on another backend);
#   idiomatic:   what the framework's own guides show by default where the course has no lesson;
#   tuned:       a documented speed setting; its note says what it changes in the user's code;
#   distributed: a data-parallel row or its single-process twin at the same global batch and
#                total threads; its note says what each is.
TAG_NAMES = ("course", "idiomatic", "tuned", "distributed")
# How a variant's worker starts: one process ("worker"), or PyTorch's launcher starting one
# worker process per replica ("torchrun").
LAUNCHERS = ("worker", "torchrun")


@dataclasses.dataclass(frozen=True)
class Variant:
    """One implementation in one mode, and what the suite makes of it.

    ``note``: for a tuned variant what it changes in the user's code, for a distributed one
    what the row is; empty for course and idiomatic rows. ``train_mode``: the mode the
    twin is loaded in (a single-process twin of a data-parallel row trains in the course's
    loop or fit; every other variant in its own ``mode``). ``single_twin``: a data-parallel
    variant's single-process twin, None for every other variant.
    """

    implementation: str
    mode: str
    tag: str
    note: str = ""
    # In the default preset: every course row and the gear each framework's documentation
    # offers for speed, what a teacher needs side by side.
    default: bool = False
    train_mode: str = ""  # "" : the variant's own mode (filled in below)
    single_twin: str | None = None
    launcher: str = "worker"
    # A process holding the threads of every replica: keras-tensorflow-mirrored runs its
    # replicas' ops in one TensorFlow runtime, and a single-process twin runs alone with the
    # replicas' total. torch-ddp has a process per replica and keras-jax-dp a device per
    # replica (XLA runs each on its own), so each of theirs gets --threads.
    threads_of_all_replicas: bool = False
    # A data-parallel variant that trains on a global batch its replicas share unevenly:
    # torch-ddp weights each rank's loss by its share (frameworks/torch_ddp_twin.py). Keras's
    # engines need every global batch to divide by the replicas: jax cannot shard an uneven
    # batch and MirroredStrategy would average the means of unequal slices.
    uneven_batches: bool = False
    # Where a framework is known to refuse the variant: (module, the newest version known to
    # refuse it, the framework's own words). The plan leaves such a variant out of a preset
    # and skips it before starting a worker when asked for by name, while the installed
    # version is at most that one; a newer release gets tried (the twin still checks).
    refused_through: tuple[str, str, str] | None = None

    def __post_init__(self):
        if not self.train_mode:
            object.__setattr__(self, "train_mode", self.mode)

    @property
    def name(self) -> str:
        """The variant's name, e.g. ``keras-jax-fit-spe``."""
        return f"{self.implementation}-{self.mode}"

    @property
    def data_parallel(self) -> bool:
        """True for a data-parallel variant (not for its single-process twin)."""
        return self.single_twin is not None

    @property
    def distributed(self) -> bool:
        """A data-parallel variant or its single-process twin: both count every replica's
        threads."""
        return self.tag == "distributed"

    @property
    def process_per_replica(self) -> bool:
        """Whether each replica is a worker process of its own (its memory and CPU time are
        then the sum over the processes)."""
        return self.launcher == "torchrun"


_SPE_NOTE = ("model.compile(..., steps_per_execution=steps per epoch): one compiled call "
             "per epoch; callbacks see one batch per epoch")
_SINGLE_NOTE = "the course {} in one process, with the threads of all replicas"

# In the order tables show them: the course's two cars first, then the other ways to drive
# each framework (its tuned gears last), then pure JAX and the numpy floor; the
# data-parallel rows, each beside its single-process twin, last (--impl or the distributed
# preset, never the other presets).
VARIANTS: dict[str, Variant] = {variant.name: variant for variant in [
    Variant("torch", "loop", "course", default=True),
    Variant("keras-tensorflow", "fit", "course", default=True),
    Variant("torch", "compile", "tuned", "model = torch.compile(model)"),
    Variant("torch", "compile-step", "tuned",
            "torch.compile around the whole step (forward, loss, backward, optimizer.step()); "
            "Adam(foreach=True)"),
    Variant("torch", "compile-step-cudagraphs", "tuned",
            "as compile-step with mode='reduce-overhead' (CUDA graphs), Adam(capturable=True) "
            "and torch.compiler.cudagraph_mark_step_begin() per step"),
    Variant("keras-tensorflow", "fit-xla", "tuned", "model.compile(..., jit_compile=True)"),
    Variant("keras-tensorflow", "fit-spe", "tuned", _SPE_NOTE, default=True),
    Variant("keras-tensorflow", "loop", "idiomatic"),
    Variant("keras-tensorflow", "loop-xla", "tuned",
            "the GradientTape step under tf.function(jit_compile=True)"),
    Variant("keras-jax", "fit", "course", default=True),
    Variant("keras-jax", "fit-spe", "tuned", _SPE_NOTE, default=True),
    Variant("keras-torch", "fit", "course", default=True),
    # No faster gear for keras-torch: Keras's torch trainer raises in make_train_function
    # for steps_per_execution > 1 (keras/src/backend/torch/trainer.py), 3.10 to 3.15.1.
    Variant("keras-torch", "fit-spe", "tuned",
            _SPE_NOTE + " (Keras refuses it on torch: the row is skipped)",
            refused_through=("keras", "3.15.1",
                             "`steps_per_execution` must be 1 with the PyTorch backend")),
    Variant("jax", "loop", "idiomatic"),
    Variant("jax", "scan", "tuned",
            "the epoch's full batches stacked to (steps, batch, features) and run as one "
            "jax.lax.scan of the jitted step", default=True),
    Variant("numpy", "loop", "idiomatic", default=True),
    Variant("torch", "ddp", "distributed",
            "the course loop, model = DistributedDataParallel(model); N processes started by "
            "torchrun, gloo on CPU, nccl on CUDA",
            single_twin="torch-ddp-single", launcher="torchrun", uneven_batches=True),
    Variant("torch", "ddp-single", "distributed", _SINGLE_NOTE.format("loop"),
            train_mode="loop", threads_of_all_replicas=True),
    Variant("keras-jax", "dp", "distributed",
            "keras.distribution.set_distribution(DataParallel(devices)): N jax devices (host "
            "devices on CPU)", single_twin="keras-jax-dp-single"),
    Variant("keras-jax", "dp-single", "distributed", _SINGLE_NOTE.format("fit"),
            train_mode="fit", threads_of_all_replicas=True),
    Variant("keras-tensorflow", "mirrored", "distributed",
            "the course model built and fitted under tf.distribute.MirroredStrategy(): N "
            "logical CPUs or the GPUs", single_twin="keras-tensorflow-mirrored-single",
            threads_of_all_replicas=True),
    Variant("keras-tensorflow", "mirrored-single", "distributed", _SINGLE_NOTE.format("fit"),
            train_mode="fit", threads_of_all_replicas=True),
]}


def variant(name: str) -> Variant:
    """The registered variant ``name``; KeyError naming the choices for any other name."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise KeyError(f"unknown variant {name!r}; choose from: {', '.join(VARIANTS)}") from None


def data_parallel_of(name: str) -> str | None:
    """The data-parallel variant whose single-process twin ``name`` is, or None."""
    return next((v.name for v in VARIANTS.values() if v.single_twin == name), None)
