"""FLOP counting on hand-built ONNX graphs (exact MACs), the GEMM probe and the Orin paper estimate."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from segnet.benchmarks import orin
from segnet.benchmarks.flops import count_macs
from segnet.benchmarks.peak import gemm_peak, machine_info
from segnet.errors import SegnetError


def _weight(name, shape):
    return numpy_helper.from_array(np.zeros(shape, np.float32), name)


def hand_built(batch="N"):
    """x (N,3,32,48) -> Conv 3->8 k3 s2 p1 -> grouped Conv 8->8 k3 g4 p1 -> depthwise Conv k3 g8 p1
    -> ConvTranspose 8->4 k2 s2 -> Flatten-free MatMul on the last axis (48->10) ; plus a Gemm branch."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4),
        helper.make_node("Conv", ["c1", "w2"], ["c2"], kernel_shape=[3, 3], group=4, pads=[1] * 4),
        helper.make_node("Conv", ["c2", "w3"], ["c3"], kernel_shape=[3, 3], group=8, pads=[1] * 4),
        helper.make_node("Relu", ["c3"], ["r3"]),
        helper.make_node("ConvTranspose", ["r3", "w4"], ["t4"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("MatMul", ["t4", "m5"], ["y"]),
        helper.make_node("Gemm", ["g_in", "g_w"], ["g_out"], transB=1),
    ]
    inits = [_weight("w1", (8, 3, 3, 3)), _weight("b1", (8,)), _weight("w2", (8, 2, 3, 3)),
             _weight("w3", (8, 1, 3, 3)), _weight("w4", (8, 4, 2, 2)), _weight("m5", (48, 10)),
             _weight("g_w", (7, 5))]
    graph = helper.make_graph(
        nodes, "hand", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 32, 48]),
                        helper.make_tensor_value_info("g_in", TensorProto.FLOAT, [6, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4, 32, 10]),
         helper.make_tensor_value_info("g_out", TensorProto.FLOAT, [6, 7])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


# per image: conv1 16x24 out, 8 ch, 3*9 taps; conv2 8 ch out, 2*9 taps; conv3 depthwise 1*9 taps;
# convT: 8x16x24 inputs, each scattering into 4*2*2 taps; MatMul: (4,32,48)x(48,10) -> 4*32*10 outputs x 48
CONV = 8 * 16 * 24 * 27 + 8 * 16 * 24 * 18 + 8 * 16 * 24 * 9
CONVT = 8 * 16 * 24 * 16
MATMUL = 4 * 32 * 10 * 48
GEMM = 6 * 7 * 5


def test_exact_macs_per_op_type_with_fixed_batch():
    report = count_macs(hand_built(), input_shape=(2, 3, 32, 48))
    assert report.macs_by_op == {"Conv": 2 * CONV, "ConvTranspose": 2 * CONVT, "MatMul": 2 * MATMUL, "Gemm": GEMM}
    assert report.macs == 2 * (CONV + CONVT + MATMUL) + GEMM
    assert report.gflops == pytest.approx(2 * report.macs / 1e9)
    assert report.uncounted == []
    assert report.weight_values == 8 * 27 + 8 * 18 + 8 * 9 + 8 * 16 + 480 + 35
    assert report.output_values == 2 * (3 * 8 * 16 * 24 + 4 * 32 * 48 + 4 * 32 * 10) + 42


def test_dynamic_batch_without_a_shape_is_reported_not_guessed():
    report = count_macs(hand_built())
    assert set(report.uncounted) >= {"Conv", "ConvTranspose", "MatMul"}  # unnamed nodes report their op
    assert report.macs_by_op == {"Gemm": GEMM}


def test_counts_a_saved_file_and_rejects_a_wrong_rank(tmp_path):
    path = tmp_path / "hand.onnx"
    onnx.save(hand_built(batch=1), path)
    assert count_macs(path).macs == CONV + CONVT + MATMUL + GEMM
    with pytest.raises(SegnetError, match="4 dimensions"):
        count_macs(path, input_shape=(1, 3, 32))


def test_gemm_probe_reports_a_rate_per_call():
    peak = gemm_peak(n=64, min_time=0.0, min_repeats=3)
    assert peak.repeats >= 3 and peak.best_gflops >= peak.median_gflops > 0
    info = machine_info()
    assert info["logical_cpus"] >= 1 and info["numpy"] == np.__version__


def test_orin_peak_derivation_reproduces_the_published_headlines():
    for device in orin.DEVICES:
        assert device.derived_headline_tops == pytest.approx(device.published_tops, rel=0.03), device.name
    agx = next(d for d in orin.DEVICES if d.name == "Jetson AGX Orin 64GB")
    assert agx.fp16_dense_tflops == pytest.approx(42.6, abs=0.1)


def test_orin_estimate_arithmetic_and_bound():
    nano = orin.DEVICES[0]  # 8 SMs x 0.625 GHz x 2048 = 10.24 dense FP16 TFLOPS
    out = orin.estimate(nano, gflops=102.4, traffic_values=0, precision="fp16", efficiency=0.5)
    assert out["compute_ms"] == pytest.approx(20.0) and out["bound"] == "compute"
    assert out["fps"] == pytest.approx(50.0)
    heavy = orin.estimate(nano, gflops=0.001, traffic_values=68e6, precision="int8", efficiency=0.5)
    assert heavy["memory_ms"] == pytest.approx(1.0) and heavy["bound"] == "memory"  # 68 MB at 68 GB/s
    with pytest.raises(ValueError):
        orin.estimate(nano, 1.0, 0, precision="fp8")


def test_gemm_probe_with_a_thread_limit_runs_in_a_child_process():
    peak = gemm_peak(n=64, min_time=0.0, min_repeats=2, threads=1)
    assert peak.repeats >= 2 and peak.best_gflops > 0 and peak.blas.endswith("1 thread(s)")
