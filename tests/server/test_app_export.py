"""A run taken home, through a running `demo.py`: a tiny training, then its script and notebook downloaded through
the API (`/export_run`, the runs panel's downloads of the chosen run), each holding that run's settings; the
notebook valid nbformat, the script valid Python; a run that is not the visitor's is refused and offers nothing."""

import re
from pathlib import Path

import nbformat

from tests.support.app_server import new_client, wait_idle

RUN = ("fast", "cnn", "adam", 0.002, 100, 1, False, "cpu", 1000)  # preset, model, ..., device, limit (a tiny run)
SETTINGS = {"LEARNING_RATE": "0.002", "BATCH_SIZE": "100", "EPOCHS": "1", "LIMIT": "1000", "DEVICE": '"cpu"',
            "LOG_EVERY": "100"}  # the run's own settings as the exported code's constants (the tutorial's LOG_EVERY)


def constants(code: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Z_]+) = ([^#\n]+?)\s*(?:#.*)?$", code, flags=re.M))


def path_of(value) -> Path:
    """A file output as the client gives it: a path, or an update whose value is the path."""
    return Path(value["value"] if isinstance(value, dict) else value)


def test_a_trained_run_downloads_as_a_script_and_a_notebook_holding_its_settings(server):
    client = new_client(server)
    wait_idle(client)
    status = client.predict(*RUN, api_name="/train")[0]
    assert "Done." in status, status
    message, script, notebook = client.predict("1", api_name="/export_run")
    script, notebook = path_of(script), path_of(notebook)
    assert (script.name, notebook.name) == ("mnist-run-1.py", "mnist-run-1.ipynb")
    code = script.read_text(encoding="utf-8")
    compile(code, script.name, "exec")  # valid Python
    assert constants(code).items() >= SETTINGS.items(), constants(code)
    assert "Model: cnn (SmallCNN" in code and "class SmallCNN(nn.Module)" in code and "torch.optim.Adam(" in code
    assert "mnist_demo" not in code.split('"""', 2)[2]  # plain PyTorch: the project itself is not needed
    assert "python mnist-run-1.py" in code  # its usage names the file it was saved as
    book = nbformat.read(notebook, as_version=4)
    nbformat.validate(book)
    cells = [cell.cell_type for cell in book.cells]
    assert cells[0] == "markdown" and cells.count("code") >= 8 and "code" not in cells[:2]
    notebook_code = "\n".join(cell.source for cell in book.cells if cell.cell_type == "code")
    assert constants(notebook_code).items() >= SETTINGS.items() and "class SmallCNN(nn.Module)" in notebook_code
    assert "Optimizer: Adam, learning rate 0.002" in book.cells[0].source  # the settings in words, in English


def test_a_run_that_is_not_yours_is_refused_and_offers_nothing(server):
    client = new_client(server)
    message, script, notebook = client.predict("7", api_name="/export_run")
    assert "there is no run '7' of yours" in message and "Not done" in message, message
    assert all(v is None or (isinstance(v, dict) and v.get("value") is None) for v in (script, notebook))
