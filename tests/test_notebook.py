"""examples/quickstart.ipynb runs end to end in a fresh Jupyter kernel (nbclient): synthetic data, training,
export, check, segmenting frames; its plots come out as images. Slow (`make test-slow`): about a minute on
this 2-core machine, most of it training's own start-up (torch's compiler import, the plots) and the export."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


def test_quickstart_notebook_runs_end_to_end(tmp_path, monkeypatch):
    pytest.importorskip("torch", reason="the notebook trains a model")
    nbformat = pytest.importorskip("nbformat", reason="pip install nbclient ipykernel (the dev extra)")
    nbclient = pytest.importorskip("nbclient", reason="pip install nbclient ipykernel (the dev extra)")
    pytest.importorskip("ipykernel", reason="pip install ipykernel (the dev extra)")
    monkeypatch.setenv("SEGNET_QUICKSTART_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), \
        "commit the notebook without outputs"
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the cell on any error
    images = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
              if output.get("output_type") == "display_data" and "image/png" in output.get("data", {})]
    assert len(images) == 3  # samples, curves, frames with overlays
    assert (tmp_path / "out" / "model.onnx").is_file() and (tmp_path / "out" / "run" / "best.pt").is_file()
