"""Appending nodes to an ONNX-GraphSurgeon graph: one node per call, uniquely named under a prefix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from segnet.lazy import require


class GraphBuilder:
    """Adds nodes and constants to `graph`; names are `PREFIX/OP_N`, unique within one builder."""

    def __init__(self, graph: Any, prefix: str = "unpool_rw") -> None:
        self.gs = require("onnx_graphsurgeon", "rewrite-unpool")
        self.graph = graph
        self.prefix = prefix
        self.counter = 0

    def _name(self, stem: str) -> str:
        self.counter += 1
        return f"{self.prefix}/{stem}_{self.counter}"

    def _op(self, op: str, inputs: Sequence[Any], attrs: dict[str, Any] | None = None,
            dtype: Any = None, out: Any = None) -> Any:
        """Append one node and return its (single) output variable (`out` when given)."""
        name = self._name(op)
        output = out if out is not None else self.gs.Variable(f"{name}:0", dtype=dtype)
        self.graph.nodes.append(self.gs.Node(op, name=name, attrs=attrs or {}, inputs=list(inputs),
                                             outputs=[output]))
        return output

    def _const(self, stem: str, values: Any) -> Any:
        return self.gs.Constant(self._name(stem), np.asarray(values))


def constant_value(tensor: Any) -> np.ndarray | None:
    """The value of a GraphSurgeon Constant (or Constant node output), else None."""
    values = getattr(tensor, "values", None)
    if values is not None:
        return np.asarray(values)
    if len(tensor.inputs) == 1 and tensor.inputs[0].op == "Constant":
        attr = tensor.inputs[0].attrs.get("value")
        return None if attr is None else np.asarray(attr.values)
    return None

