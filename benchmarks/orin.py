"""A paper ESTIMATE (not a measurement) of SegNet latency on Jetson Orin modules.

Latency = max(arithmetic / (GPU tensor-core peak x efficiency), memory traffic / DRAM bandwidth), per
precision. The arithmetic and the traffic come from the model's shape-inferred ONNX (segnet.benchmarks.flops);
the efficiency factor is an assumption (default 0.3: well-tuned TensorRT convolutions on Ampere reach
roughly a third of the tensor-core peak at batch 1, less for thin layers); nothing here ran on a Jetson.

Peak numbers. NVIDIA publishes per-module "AI performance" as INT8 TOPS *with 2:4 structured sparsity*,
GPU and DLAs together. Dense GPU throughput is derived from the GPU's SM count and maximum clock with the
Orin (GA10B) tensor-core rate per SM per clock: 4096 dense INT8 ops, 2048 dense FP16 FLOPs; sparse doubles
both. The derivation reproduces every published headline figure (checked in `DEVICES` below):
  - Orin Nano 8GB:  8 SMs x 0.625 GHz x 8192 = 41 sparse INT8 TOPS (datasheet: 40 TOPS, no DLA);
    MAXN SUPER (JetPack 6.2) 1.02 GHz -> 67 TOPS (Super datasheet: 67 TOPS).
  - Orin NX 16GB:   8 SMs x 0.918 GHz x 8192 = 60 GPU + 40 (2 DLA) = 100 TOPS (datasheet: 100 TOPS).
  - AGX Orin 64GB: 16 SMs x 1.3 GHz x 8192 = 170 GPU + 105 (2 DLA) = 275 TOPS (technical brief: GPU 170
    sparse INT8 TOPS, DLA 105, module 275).
The estimate uses the DENSE GPU peaks (a SegNet trained normally has no 2:4 sparsity) and ignores DLAs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SOURCES = (
    ("NVIDIA Jetson AGX Orin Series Technical Brief v1.2 (2022): GPU 2048 CUDA cores / 64 tensor cores / 16 SMs, "
    "170 sparse INT8 TOPS, DLAs 105 sparse INT8 TOPS, 275 TOPS module; AGX Orin 64GB GPU max 1.3 GHz, "
    "204.8 GB/s LPDDR5 (https://www.nvidia.com/content/dam/en-zz/Solutions/gtcf21/jetson-orin/"
    "nvidia-jetson-agx-orin-technical-brief.pdf)"),
    ("NVIDIA Jetson Orin NX Series data sheet: up to 100 TOPS, 1024-core Ampere GPU with 32 tensor cores "
    "(16GB: GPU max 918 MHz, 102.4 GB/s) (copy at https://github.com/icub-tech-iit/cad-libraries/files/"
    "13056089/JETSON-ORIN-NX-DATASHEET.pdf)"),
    ("NVIDIA Jetson Orin Nano Series data sheet: 8GB module 40 TOPS, 1024-core GPU with 32 tensor cores, "
    "GPU max 625 MHz, 68 GB/s; Jetson Orin Nano Super Developer Kit data sheet (Dec 2024): 67 TOPS at "
    "1020 MHz GPU, 102 GB/s"),
)
DENSE_FP16_FLOPS_PER_SM_CLOCK = 2048  # Orin GA10B tensor cores (A100-class rate per SM)
DENSE_INT8_OPS_PER_SM_CLOCK = 4096


@dataclass(frozen=True)
class OrinDevice:
    """One module at its maximum power mode: GPU SMs and clock, DRAM bandwidth, published headline."""

    name: str
    sms: int
    gpu_ghz: float
    dram_gbs: float
    published_tops: float  # sparse INT8, GPU + DLAs, as printed in NVIDIA's data sheet
    dla_sparse_tops: float = 0.0

    @property
    def fp16_dense_tflops(self) -> float:
        return self.sms * self.gpu_ghz * DENSE_FP16_FLOPS_PER_SM_CLOCK / 1000.0

    @property
    def int8_dense_tops(self) -> float:
        return self.sms * self.gpu_ghz * DENSE_INT8_OPS_PER_SM_CLOCK / 1000.0

    @property
    def derived_headline_tops(self) -> float:
        """GPU sparse INT8 + DLA: what the derivation predicts for the published headline figure."""
        return 2 * self.int8_dense_tops + self.dla_sparse_tops


DEVICES = (
    OrinDevice("Jetson Orin Nano 8GB", sms=8, gpu_ghz=0.625, dram_gbs=68.0, published_tops=40),
    OrinDevice("Jetson Orin Nano 8GB (MAXN SUPER)", sms=8, gpu_ghz=1.02, dram_gbs=102.0, published_tops=67),
    OrinDevice("Jetson Orin NX 16GB", sms=8, gpu_ghz=0.918, dram_gbs=102.4, published_tops=100,
               dla_sparse_tops=40),
    OrinDevice("Jetson AGX Orin 64GB", sms=16, gpu_ghz=1.3, dram_gbs=204.8, published_tops=275,
               dla_sparse_tops=105),
)
BYTES_PER_VALUE = {"fp16": 2, "int8": 1}


def estimate(device: OrinDevice, gflops: float, traffic_values: float, precision: str = "fp16",
             efficiency: float = 0.3) -> dict[str, Any]:
    """Estimated batch-1 latency (ms) and FPS of a model with `gflops` arithmetic and `traffic_values`
    tensor values moved to/from DRAM, at `precision` ("fp16" or "int8") on `device`."""
    if precision not in BYTES_PER_VALUE:
        raise ValueError(f"precision must be fp16 or int8, got {precision!r}")
    if not 0 < efficiency <= 1:
        raise ValueError(f"efficiency must be in (0, 1], got {efficiency}")
    peak = device.fp16_dense_tflops if precision == "fp16" else device.int8_dense_tops
    compute_ms = gflops / (peak * 1000.0 * efficiency) * 1000.0
    memory_ms = traffic_values * BYTES_PER_VALUE[precision] / (device.dram_gbs * 1e9) * 1000.0
    latency = max(compute_ms, memory_ms)
    return {"device": device.name, "precision": precision, "peak_dense": peak, "efficiency": efficiency,
            "compute_ms": compute_ms, "memory_ms": memory_ms, "latency_ms": latency, "fps": 1000.0 / latency,
            "bound": "compute" if compute_ms >= memory_ms else "memory"}
