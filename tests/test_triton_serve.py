"""`segnet serve` and `--backend triton` against a real Triton Inference Server (PyTriton's tritonserver,
started from .venv-serve on loopback ports): concurrent streams, identical results, server-side batching,
a server that goes away, wrong model names and shapes."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from runtime_helpers import count_video_frames, scene

pytest.importorskip("tritonclient.grpc", reason="tritonclient[grpc] is not installed")

from segnet.benchmarks.tiny_onnx import build_tiny_onnx, tiny_spec
from segnet.cli import main
from segnet.errors import SegnetError
from segnet.runtime import Segmenter
from segnet.runtime.backends import open_backend
from segnet.runtime.triton_process import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[1]
SERVER_PYTHON = ROOT / ".venv-serve" / "bin" / "python"
# one ONNX Runtime thread per instance: a 2-core machine runs the server and its clients side by side
SERVE_ARGS = ["--threads", "1", "--queue-delay-us", "20000", "--max-batch", "8"]

if not SERVER_PYTHON.is_file():
    pytest.skip("no .venv-serve (run `make serve-venv`): the real Triton server tests need it",
                allow_module_level=True)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return build_tiny_onnx(tmp_path_factory.mktemp("serve") / "tiny.onnx", outputs=("logits",), batch=None)


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    with ServerProcess(SERVER_PYTHON, model, "tiny", tmp_path_factory.mktemp("log") / "serve.log",
                       extra=SERVE_ARGS) as process:
        yield process


def frames(seed: int, count: int = 6) -> list[np.ndarray]:
    return [scene(seed * 10 + i, 64, 96) for i in range(count)]


def test_the_client_reads_the_spec_and_tensors_from_the_server(server):
    with Segmenter("tiny", backend="triton", url=server.url, log=None) as seg:
        assert seg.spec == tiny_spec()
        assert seg.frame_path is not None and seg.frame_path.outputs == ["labels"]
        assert [(t.name, t.shape) for t in seg.backend.inputs] == [("frame", (None, None, None, 3))]
        seg.predict(scene(0, 64, 96))
        timing = seg.last_timing
        assert timing["server"] > 0 and timing["transport"] >= 0
        assert timing["round_trip"] == pytest.approx(timing["server"] + timing["transport"], rel=1e-6)


def test_concurrent_streams_get_the_local_results_and_the_server_batches(server, model):
    with Segmenter(model, log=None) as local:
        expected = {k: [local.predict(f) for f in frames(k)] for k in range(4)}
    got: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def stream(k: int) -> None:
        try:
            with Segmenter("tiny", backend="triton", url=server.url, log=None) as seg:
                start.wait()
                got[k] = [seg.predict(f) for f in frames(k)]
        except BaseException as exc:  # noqa: BLE001 (re-raised below)
            errors.append(exc)

    threads = [threading.Thread(target=stream, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    for k in range(4):
        for mine, theirs in zip(got[k], expected[k]):
            np.testing.assert_array_equal(mine, theirs)
    from tritonclient import grpc

    client = grpc.InferenceServerClient(server.url[len("grpc://"):])
    stats = client.get_inference_statistics("tiny", as_json=True)["model_stats"][0]["batch_stats"]
    client.close()
    batched = {int(b["batch_size"]): int(b["compute_infer"]["count"]) for b in stats}
    assert any(size > 1 and count > 0 for size, count in batched.items()), f"Triton formed no batch above 1: {batched}"


@pytest.mark.slow
def test_the_network_interface_serves_the_models_tensors_and_the_client_does_the_rest(model, tmp_path):
    """--interface network: what a `segnet deploy triton` repository exposes; the client pre- and post-processes."""
    with ServerProcess(SERVER_PYTHON, model, "tiny-net", tmp_path / "serve.log",
                       extra=[*SERVE_ARGS, "--interface", "network"]) as process, \
            Segmenter("tiny-net", backend="triton", url=process.url, log=None) as remote, \
            Segmenter(model, log=None) as local:
        assert remote.frame_path is None and remote.spec == tiny_spec()
        assert [(t.name, t.shape) for t in remote.backend.inputs] == [("input", (None, 3, 32, 48))]
        for frame in frames(7, 4):
            np.testing.assert_array_equal(remote.predict(frame), local.predict(frame))
        np.testing.assert_allclose(remote.predict_logits(frames(7, 1)[0]), local.predict_logits(frames(7, 1)[0]),
                                   atol=1e-5)
        assert remote.last_timing["server"] > 0
        stats = tmp_path / "stats.json"
        assert main(["run", "tiny-net", "--backend", "triton", "--url", process.url, "--source",
                     "synthetic://?frames=10&size=64x96", "--json", str(stats), "-q"]) == 0
        assert json.loads(stats.read_text())["stages_ms"]["server"]["count"] == 10


def test_the_kserve_v2_http_endpoint_answers_too(server, model):
    """Any KServe v2 client (here: plain HTTP/JSON) reads the spec from the config and gets the class map."""
    import urllib.request

    base = f"http://127.0.0.1:{server.http_port}/v2"
    with urllib.request.urlopen(f"{base}/health/ready", timeout=10) as response:
        assert response.status == 200
    with urllib.request.urlopen(f"{base}/models/tiny/config", timeout=10) as response:
        parameters = json.loads(response.read())["parameters"]
    assert json.loads(parameters["segnet.class_names"]["string_value"]) == tiny_spec().class_names
    frame = scene(5, 24, 36)
    body = {"inputs": [{"name": "frame", "shape": [1, *frame.shape], "datatype": "UINT8",
                        "data": frame.ravel().tolist()}], "outputs": [{"name": "labels"}]}
    request = urllib.request.Request(f"{base}/models/tiny/infer", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        output = json.loads(response.read())["outputs"][0]
    labels = np.array(output["data"], np.uint8).reshape(output["shape"])[0]
    with Segmenter(model, log=None) as local:
        np.testing.assert_array_equal(labels, local.predict(frame))


def test_segnet_run_through_the_server_reports_server_and_transport_times(server, tmp_path, capsys):
    out, stats = tmp_path / "out", tmp_path / "stats.json"
    assert main(["run", "tiny", "--backend", "triton", "--url", server.url, "--source",
                 "synthetic://?frames=12&size=64x96", "--output", str(out), "--json", str(stats), "-q"]) == 0
    doc = json.loads(stats.read_text())
    assert doc["frames_out"] == 12 and doc["backend"] == "triton" and doc["url"] == server.url
    assert doc["stages_ms"]["server"]["count"] == 12 and doc["stages_ms"]["transport"]["count"] == 12
    assert len(list(out.glob("*.png"))) == 24  # rendered frame and class map per frame
    assert "transport" in capsys.readouterr().out


def test_wrong_model_name_and_no_server_are_one_line_errors(server, capsys):
    with pytest.raises(SegnetError, match="no model 'nope' ready"):
        Segmenter("nope", backend="triton", url=server.url)
    with pytest.raises(SegnetError, match="no Triton server answers"):
        Segmenter("tiny", backend="triton", url=f"grpc://127.0.0.1:{free_port()}")
    assert main(["run", "nope", "--backend", "triton", "--url", server.url, "--source", "synthetic://?frames=2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no model 'nope' ready" in err[0]
    assert main(["run", "tiny", "--backend", "triton", "--url", "http://127.0.0.1:8000", "--source",
                 "synthetic://?frames=2"]) == 2
    assert "expected grpc://HOST:PORT" in capsys.readouterr().err


def test_wrong_input_shape_or_type_is_refused_by_the_server(server):
    with open_backend("tiny", backend="triton", url=server.url) as backend:
        with pytest.raises(SegnetError, match="server refused the request.*frame"):
            backend.infer({"frame": np.zeros((1, 10, 10), np.uint8)})
        with pytest.raises(SegnetError, match="server refused the request"):
            backend.infer({"frame": np.zeros((1, 10, 10, 3), np.float32)})
        with pytest.raises(SegnetError, match="expected inputs"):
            backend.infer({"image": np.zeros((1, 10, 10, 3), np.uint8)})
        ok = backend.infer({"frame": np.zeros((1, 10, 10, 3), np.uint8)})
        assert ok["labels"].shape == (1, 10, 10)


def test_a_server_that_goes_away_stops_the_run_with_its_output_complete(model, tmp_path, capsys):
    out = tmp_path / "out.avi"
    result: list[int] = []
    with ServerProcess(SERVER_PYTHON, model, "tiny", tmp_path / "serve.log", extra=SERVE_ARGS) as process:
        run = threading.Thread(target=lambda: result.append(main([
            "run", "tiny", "--backend", "triton", "--url", process.url, "--retry-s", "1", "--source",
            "synthetic://?frames=100000&size=64x96", "--output", str(out), "-q"])))
        run.start()
        while not list(tmp_path.glob(".out.tmp*")) and run.is_alive():
            threading.Event().wait(0.1)
        threading.Event().wait(1.5)  # frames flowing
        process.kill()
        run.join(60)
    assert result == [2]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the Triton server went away" in err[0] and "not back within 1 s" in err[0]
    assert out.is_file() and count_video_frames(out) > 0  # the frames segmented so far, in a finished video
    assert not list(tmp_path.glob(".out.tmp*"))


@pytest.mark.slow
def test_a_server_restarted_mid_stream_is_reconnected_and_no_frame_is_lost(model, tmp_path):
    out, stats = tmp_path / "out.avi", tmp_path / "stats.json"
    result: list[int] = []
    grpc_port, http_port = free_port(), free_port()

    def server() -> ServerProcess:
        return ServerProcess(SERVER_PYTHON, model, "tiny", tmp_path / "serve.log", grpc_port, http_port, SERVE_ARGS)

    first = server().start()
    run = threading.Thread(target=lambda: result.append(main([
        "run", "tiny", "--backend", "triton", "--url", first.url, "--retry-s", "120", "--source",
        "synthetic://?frames=300&size=64x96", "--output", str(out), "--json", str(stats), "-q"])))
    run.start()
    threading.Event().wait(1.5)
    first.kill()
    second = server().start()
    run.join(180)
    second.stop()
    assert result == [0]
    doc = json.loads(stats.read_text())
    assert doc["frames_out"] == 300 and count_video_frames(out) == 300
    assert doc["server_retries"] > 0


@pytest.mark.slow
def test_the_serving_benchmark_runs_both_sides(tmp_path):
    from segnet.benchmarks.scripts import serving_bench

    assert serving_bench.main(["--clients", "1,2", "--frames", "3", "--size", "64x96", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "serving_bench.json").read_text())["rows"]
    assert [r["clients"] for r in rows] == [1, 2]
    assert all(r[side]["fps"] > 0 and r[side]["p99_ms"] >= r[side]["p50_ms"] > 0 for r in rows
               for side in ("server", "local"))
