"""The oldest framework versions the suite is tested with, and the check that skips rows
below them.

The lower bounds here are the ``>=`` bounds of pyproject.toml's extras (a test keeps the two
equal) and the versions of the oldest set in the version matrix (tox.ini, .ci/run), where
the parity tests and a quick benchmark pass. A framework older than its bound is not known
to compute the twins' function, so its rows are skipped with the version found and the
version needed instead of failing somewhere inside the framework.
"""

from __future__ import annotations

import importlib.metadata
import re

#: module -> the oldest tested version: the matrix's oldest set (constraints/oldest.txt).
#: None is known to break below its bound; none below it is tested.
MINIMUM = {
    "torch": "2.9.1",
    "tensorflow": "2.19.0",
    "keras": "3.10.0",
    "jax": "0.6.2",
    "numpy": "2.0.2",
}

#: module -> the distributions that install it, in the order they are looked up:
#: TensorFlow comes as ``tensorflow`` (Colab, the GPU build) or ``tensorflow-cpu``.
DISTRIBUTIONS = {
    "torch": ("torch",),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tf-nightly"),
    "keras": ("keras",),
    "jax": ("jax",),
    "numpy": ("numpy",),
}


def parse(version: str) -> tuple[int, ...]:
    """The release numbers of ``version``: ``"2.11.0+cu128"`` -> ``(2, 11, 0)``,
    ``"2.21.0rc1"`` -> ``(2, 21, 0)`` (a pre-release counts as its release)."""
    numbers = []
    for part in version.split("+")[0].split("."):
        match = re.match(r"\d+", part)
        if match is None:
            break
        numbers.append(int(match.group()))
        if match.end() < len(part):
            break
    return tuple(numbers)


def installed(module: str) -> tuple[str, str] | None:
    """``(distribution, version)`` of what installs ``module`` (read without importing it),
    or None."""
    for dist in DISTRIBUTIONS.get(module, (module,)):
        try:
            return dist, importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def too_old(module: str) -> str | None:
    """One sentence when ``module`` is installed below ``MINIMUM``; None when it is new
    enough, not installed (that is ``Implementation.missing``'s to say) or has no bound."""
    needed, found = MINIMUM.get(module), installed(module)
    if needed is None or found is None or parse(found[1]) >= parse(needed):
        return None
    dist, version = found
    return (f"{module} {version} is installed, but {needed} or newer is needed (the oldest "
            f"version the suite is tested with): pip install -U '{dist}>={needed}'")


def describe(modules) -> str:
    """The installed versions of ``modules``, e.g. ``"keras 3.13.2, tensorflow 2.20.0"``."""
    found = [(module, installed(module)) for module in modules]
    return ", ".join(f"{module} {dist[1] if dist else 'not installed'}" for module, dist in found)


def known_refusal(variant) -> str | None:
    """One sentence when the installed framework is known to refuse ``variant`` (a
    frameworks.variants.Variant): its ``refused_through`` (module, the newest version known to
    refuse it, the framework's own words) covers the installed version. None otherwise: no
    known refusal, the module not installed (``Implementation.missing``'s to say), or a newer
    release, which gets tried."""
    if variant.refused_through is None:
        return None
    module, through, words = variant.refused_through
    found = installed(module)
    if found is None or parse(found[1]) > parse(through):
        return None
    return (f"{variant.implementation} cannot run {variant.mode}: {module.capitalize()} "
            f"{found[1]} says {words} (every release up to {through} refuses it)")
