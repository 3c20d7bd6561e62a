"""Fail when a notebook under notebooks/ is committed with outputs or execution counts.

Notebooks are the study's source; their executed copies are generated into book/artists/.
Usage: python scripts/check_notebooks.py [--fix] [NOTEBOOK ...] (default: notebooks/*.ipynb)
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat


def dirty_cells(nb) -> list[int]:
    return [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]


def main(argv: list[str]) -> int:
    fix = "--fix" in argv
    paths = [Path(a) for a in argv if a != "--fix"] or sorted(Path("notebooks").glob("*.ipynb"))
    status = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        dirty = dirty_cells(nb)
        if not dirty:
            continue
        if fix:
            for i in dirty:
                nb.cells[i].outputs = []
                nb.cells[i].execution_count = None
            nbformat.write(nb, path)
            print(f"{path}: stripped outputs from {len(dirty)} cell(s)")
        else:
            print(f"{path}: cells {dirty} have outputs; run scripts/check_notebooks.py --fix")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
