"""What two runs measured with: the note that a comparison gives first when they differ."""

from __future__ import annotations

from results.model import Environment, Run


def _versions(run: Run) -> dict[str, str]:
    """The run's Python and package versions (its ``environment``), by name."""
    env = run.environment or Environment()
    found = dict(env.get("versions") or {})
    if env.get("python"):
        found["python"] = env.python
    return {name: str(version) for name, version in found.items() if version is not None}


def version_note(old: Run, new: Run) -> str | None:
    """One sentence naming every version that differs between the two runs (Python
    included; a package in one run only counts too), or None when none does or a run
    recorded none (a format-1 file may not)."""
    a, b = _versions(old), _versions(new)
    if not a or not b:
        return None
    changed = [f"{name} {a.get(name, 'absent')} → {b.get(name, 'absent')}"
               for name in sorted(set(a) | set(b)) if a.get(name) != b.get(name)]
    if not changed:
        return None
    return ("the two runs measured other versions (" + ", ".join(changed) + "): a difference "
            "between them may be the versions', not the code's")
