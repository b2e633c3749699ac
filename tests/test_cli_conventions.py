"""The command line spells shared ideas one way (segnet/cli/options.py); old spellings still work for a
release, with a note (docs/cli.md)."""

from __future__ import annotations

import json
import pkgutil

import pytest

from segnet.cli import COMMANDS, build_parser, commands, main
from segnet.runtime.uris import SINK_URIS, SOURCE_URIS


def parse(*argv):
    return build_parser().parse_args([str(a) for a in argv])


def test_the_command_list_names_every_command_module_once():
    modules = sorted(info.name for info in pkgutil.iter_modules(commands.__path__) if not info.name.startswith("_"))
    assert sorted(COMMANDS) == modules and len(set(COMMANDS)) == len(COMMANDS)


@pytest.mark.parametrize(("old", "new", "dest", "value"), [
    (["run", "m.onnx", "-s", "0", "--input-size", "64x96"], ["run", "m.onnx", "-s", "0", "--imgsz", "64", "96"],
     "imgsz", (64, 96)),
    (["run", "m.onnx", "-s", "0", "--loop"], ["run", "m.onnx", "-s", "0", "--input-loop"], "loop", True),
    (["run", "m.onnx", "-s", "0", "--video-fps", "12"], ["run", "m.onnx", "-s", "0", "--output-rate", "12"],
     "output_rate", 12.0),
    (["run", "m.onnx", "-s", "0", "--stats", "s.json"], ["run", "m.onnx", "-s", "0", "--json", "s.json"],
     "json", "s.json"),
    (["synth", "out", "--size", "40", "56"], ["synth", "out", "--imgsz", "40", "56"], "imgsz", (40, 56)),
    (["train", "--format", "camvid"], ["train", "--data-format", "camvid"], "format", "camvid"),
    (["evaluate", "m.pt", "--data", "d", "--format", "voc"], ["evaluate", "m.pt", "--data", "d", "--data-format", "voc"],
     "data_format", "voc"),
])
def test_old_spellings_are_deprecated_aliases_of_the_new(capsys, old, new, dest, value):
    as_new = getattr(parse(*new), dest)
    assert capsys.readouterr().err == ""
    as_old = getattr(parse(*old), dest)
    normal = (lambda v: tuple(v) if isinstance(v, list) else v)
    assert normal(as_old) == normal(as_new) == value
    note = capsys.readouterr().err
    old_flag = next(a for a in reversed(old) if a.startswith("--"))
    new_flag = next(a for a in reversed(new) if a.startswith("--"))
    assert f"{old_flag} is deprecated" in note and f"use {new_flag}" in note


def test_deprecated_aliases_are_hidden_from_help(capsys):
    with pytest.raises(SystemExit):
        parse("run", "--help")
    text = capsys.readouterr().out
    assert "--imgsz" in text and "--input-loop" in text and "--output-rate" in text
    assert "--input-size" not in text and "--video-fps" not in text and "--stats" not in text


def test_run_help_quotes_the_one_uri_table(capsys):
    with pytest.raises(SystemExit):
        parse("run", "--help")
    text = capsys.readouterr().out
    for line in (SOURCE_URIS + SINK_URIS).splitlines():
        assert line.strip() in text


@pytest.mark.parametrize("argv", [["bench", "m.onnx"], ["evaluate", "m.pt", "--data", "d"], ["run", "m", "-s", "0"],
                                  ["train"]])
def test_device_means_one_thing_and_lists_its_choices(capsys, argv):
    with pytest.raises(SystemExit):
        parse(*argv, "--device", "gpu")
    err = capsys.readouterr().err
    assert "--device" in err and "expected one of" in err and "cpu" in err


def test_train_device_takes_a_gpu_index():
    assert parse("train", "--device", "cuda:1").device == "cuda:1"
    with pytest.raises(SystemExit):
        parse("train", "--device", "cuda:x")


def test_json_goes_to_stdout_without_a_file_and_to_the_file_with_one(tmp_path, capsys):
    assert main(["doctor", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"components", "features"}
    out = tmp_path / "doctor.json"
    assert main(["doctor", "--json", str(out)]) == 0
    captured = capsys.readouterr()
    assert json.loads(out.read_text()).keys() == doc.keys()
    assert "features" not in captured.out.split("\n")[0] and f"wrote {out}" in captured.err
