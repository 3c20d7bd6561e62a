"""The study's notebooks are source: parameterized, without outputs, only package calls."""

import ast
from pathlib import Path

import nbformat
import papermill
import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def test_every_expected_notebook_exists():
    names = {p.stem for p in NOTEBOOKS}
    assert {"01_explore", "02_train", "03_evaluate", "00_dataset", "90_results"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean_and_parameterized(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not [c for c in code if c.outputs or c.execution_count], "strip outputs"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    assert papermill.inspect_notebook(str(path)), "the parameters cell declares nothing"
    for cell in code:
        source = "\n".join(
            line for line in cell.source.splitlines() if not line.lstrip().startswith("%")
        )
        tree = ast.parse(source)
        # Logic lives in the package: notebooks define no functions or classes of their own.
        defined = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)]
        assert not defined, f"{path.name}: move {[n.name for n in defined]} into pianogen"
