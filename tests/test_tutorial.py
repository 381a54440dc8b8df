"""docs/tutorial.ipynb runs from top to bottom (nbclient), so it cannot rot (issue 14 item 7).

The kernel is this interpreter (the venv's), from a kernel spec written for the test: no
Jupyter installation or registered kernel is needed, only what `make test` installs
(nbclient, nbformat, ipykernel: pyproject's [test] extra).  Outputs go to a temporary
directory (`GRIDSIM_TUTORIAL_OUT`), never into the checkout."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "tutorial.ipynb"
#: seconds any one cell may take (the sweep is the longest: six runs of 3,000 residents)
CELL_TIMEOUT = 120


def test_tutorial_notebook_runs(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec_dir = tmp_path / "kernels" / "gridsim-venv"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "gridsim (this venv)", "language": "python"}))
    monkeypatch.setenv("GRIDSIM_TUTORIAL_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    km = KernelManager(kernel_name="gridsim-venv",
                       kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")]))

    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "store the notebook without outputs"
    client = nbclient.NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, allow_errors=False,
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()          # raises CellExecutionError, naming the cell, if any cell fails

    out = tmp_path / "out"
    assert (out / "huizhou" / "summary.json").is_file() and (out / "sweep" / "store.sqlite").is_file()
    assert (out / "sweep" / "plots" / "curves_fulltime_ratio.png").is_file()
    text = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "6 runs: 6 run now" in text and "drift flagged" in text
