"""Graph inputs and outputs declared without a shape get one of the rank their pooling node implies.

onnx.checker requires a shape on the main graph's inputs and outputs and TensorRT needs every input's rank, but
ONNX's own MaxUnpool test case ("with_output_shape") declares none. A MaxPool or MaxUnpool with a k-D kernel
takes and gives (2 + k)-D tensors and MaxUnpool's output_shape is 1-D of that length, so those tensors get
symbolic dimensions ("NAME_d0", ...) of that rank; the dimensions themselves stay unknown (dynamic).
"""

from __future__ import annotations

from typing import Any


def _rank_of(node: Any) -> int | None:
    for attr in node.attribute:
        if attr.name == "kernel_shape":
            return 2 + len(attr.ints)
    return None


def implied_ranks(graph: Any) -> dict[str, list[int | None]]:
    """tensor name -> shape ([None] * rank) that a MaxPool / MaxUnpool implies for it."""
    ranks: dict[str, list[int | None]] = {}
    for node in graph.node:
        rank = _rank_of(node) if node.op_type in ("MaxPool", "MaxUnpool") else None
        if rank is None:
            continue
        for name in list(node.input[:2]) + list(node.output):
            if name:
                ranks.setdefault(name, [None] * rank)
        if node.op_type == "MaxUnpool" and len(node.input) > 2 and node.input[2]:
            ranks.setdefault(node.input[2], [rank])
    return ranks


def declare_shapes(values: Any, shapes: dict[str, list[int | None]]) -> list[str]:
    """Give each ValueInfo in `values` that has no shape the one in `shapes`; return the names given one."""
    done = []
    for value in values:
        tensor = value.type.tensor_type
        if not value.type.HasField("tensor_type") or tensor.HasField("shape") or value.name not in shapes:
            continue
        tensor.shape.SetInParent()
        for k, dim in enumerate(shapes[value.name]):
            if dim is None:
                tensor.shape.dim.add().dim_param = f"{value.name}_d{k}"
            else:
                tensor.shape.dim.add().dim_value = dim
        done.append(value.name)
    return done
