"""`segnet serve`'s command line where no server is started: finding the server environment, the request
it forwards there, and one-line errors."""

from __future__ import annotations

import argparse

import pytest

from segnet.benchmarks.tiny_onnx import build_tiny_onnx
from segnet.cli import main
from segnet.cli.commands import serve
from segnet.errors import MissingDependencyError


def test_missing_model_and_interpreter_are_one_line_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(serve, "can_serve_here", lambda: False)
    assert main(["serve", str(tmp_path / "missing.onnx")]) == 2
    assert "model file not found" in capsys.readouterr().err
    model = build_tiny_onnx(tmp_path / "m.onnx", outputs=("logits",))
    assert main(["serve", str(model), "--server-python", str(tmp_path / "nope" / "python")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such interpreter" in err[0]
    assert main(["serve", str(model), "--preferred", "0"]) == 2
    assert "--preferred" in capsys.readouterr().err


def test_without_a_server_environment_it_says_how_to_make_one(monkeypatch):
    monkeypatch.delenv(serve.PYTHON_ENV, raising=False)
    monkeypatch.setattr(serve, "SERVER_VENV", ".venv-that-is-not-there")
    with pytest.raises(MissingDependencyError, match="make serve-venv"):
        serve.server_python(None)


def test_the_forwarded_request_parses_back_to_the_same_options(tmp_path):
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    args = parser.parse_args([str(tmp_path / "m.onnx"), "--name", "road", "--host", "0.0.0.0", "--port", "9001",
                              "--max-batch", "16", "--preferred", "4,8", "--interface", "network", "--threads", "2"])
    again = parser.parse_args(serve.forwarded(args))
    for option in ("name", "host", "port", "http_port", "max_batch", "queue_delay_us", "preferred", "instances",
                   "backend", "device", "threads", "interface"):
        assert getattr(again, option) == getattr(args, option), option
    assert again.model == args.model.resolve()
