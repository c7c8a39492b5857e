"""The notebooks run top to bottom (nbclient, small sizes) and are stored without outputs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
MISSING = [m for m in ("nbformat", "nbclient", "ipykernel") if importlib.util.find_spec(m) is None]
needs_jupyter = pytest.mark.skipif(
    bool(MISSING), reason=f"{', '.join(MISSING)} not installed (pip install -e '.[test]')")


def test_there_are_five_notebooks_and_an_index():
    names = [p.name for p in NOTEBOOKS]
    assert len(names) == 5
    index = (NOTEBOOKS[0].parent / "README.md").read_text()
    for name in names:
        assert name in index, f"{name} is missing from notebooks/README.md"


@needs_jupyter
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stripped_and_runs(path, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, \
                f"{path.name}: outputs must be stripped before committing"
    # run in a scratch folder: whatever a notebook writes stays out of the repository
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if "data" in o and "image/png" in o["data"]]
    assert images, f"{path.name} drew no figure"
