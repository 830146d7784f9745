"""Source files over a line limit and functions over a length limit, for a quick look.

Counts every ``*.py`` file's lines, and every function's (``def``, methods and nested
functions included) lines from its ``def`` (or first decorator) to its last line, docstring
and comments included, by the ``ast`` module. Usage, from the repository root::

    python tools/code_sizes.py [FOLDER ...] [--file-lines 400] [--function-lines 60]

FOLDER defaults to frameworks benchmarks results reports. Prints the files and the
functions over the limits, longest first, and exits 0 either way (a function may say in
its docstring why it is long).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path


def function_lengths(path: Path) -> list[tuple[int, str]]:
    """(lines, "file:line name") of every function defined in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            out.append((node.end_lineno - start + 1, f"{path}:{node.lineno} {node.name}"))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*",
                        default=["frameworks", "benchmarks", "results", "reports"])
    parser.add_argument("--file-lines", type=int, default=400)
    parser.add_argument("--function-lines", type=int, default=60)
    args = parser.parse_args(argv)
    files = sorted(p for folder in args.folders for p in Path(folder).rglob("*.py"))
    sizes = sorted(((len(p.read_text(encoding="utf-8").splitlines()), str(p)) for p in files),
                   reverse=True)
    print(f"files over {args.file_lines} lines:")
    for lines, name in sizes:
        if lines > args.file_lines:
            print(f"  {lines:5d}  {name}")
    print(f"functions over {args.function_lines} lines:")
    for lines, name in sorted((f for p in files for f in function_lengths(p)), reverse=True):
        if lines > args.function_lines:
            print(f"  {lines:5d}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
