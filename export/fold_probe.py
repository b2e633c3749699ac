"""Fold any index-arithmetic + ScatterND unpooling (tf2onnx's NHWC pattern, hand-written ones) into the switch form,
after proving on the subgraph that it is the 2x2 max-unpooling of the pool's own input.

Found by structure first: from a 2x2/stride-2 MaxPool's Indices, only integer index arithmetic, data movement
and shape reads (_INDEX_OPS, _SHAPE_OPS) up to ScatterND nodes into zeros; each ScatterND's updates are layout
changes (Reshape/Transpose/...) of a tensor V, and its output becomes a tensor T through layout changes only.
Their other inputs may only be constants or shapes of other tensors (Shape nodes).
Then proved on the subgraph: the cut-out subgraph (pool input X and V in, T out) and the switch form built on a
copy are both run under ONNX Runtime at the model's batch (1 and 2 when dynamic), with V all distinct values (a
value put in a wrong place shows) and X forcing every window position in turn (a 10 on one of the four, as in
every window), plus tie-heavy, constant and random inputs; T must be identical in every probe. Each output
element of such index arithmetic depends on one window's index, so the four forced probes visit every window's
four choices; the mixed probes check that the windows do not interact.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from segnet.export.graph_builder import constant_value
from segnet.lazy import require

# Integer index arithmetic and data movement: each output element comes from one element of each input.
_INDEX_OPS = {"Add", "Sub", "Mul", "Div", "Mod", "Cast", "Floor", "Neg", "Abs", "Reshape", "Transpose", "Unsqueeze",
              "Squeeze", "Flatten", "Concat", "Identity", "Expand", "Slice", "Gather", "Split", "Tile"}
_LAYOUT_OPS = {"Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Identity"}
_SHAPE_OPS = {"Shape", "Size", "ConstantOfShape"}  # read only the shape of what the indices become
_PROBES_PER_BATCH = 10


def scatter_uses(rewriter: Any, pool: Any) -> list[tuple[Any, Any, Any]] | None:
    """[(ScatterND, V, T)] if the Indices reach only index arithmetic and ScatterNDs into zeros whose updates
    come from V and whose output becomes T, through layout changes; else None."""
    scatters, frontier, seen = [], [pool.outputs[1]], set()
    while frontier:
        tensor = frontier.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        if tensor in rewriter.graph.outputs:
            return None
        for node in tensor.outputs:
            if node.op == "ScatterND" and node.inputs[1] is tensor:
                scatters.append(node)
            elif node.op in _INDEX_OPS or node.op in _SHAPE_OPS:
                frontier.extend(node.outputs)
            else:
                return None
    uses = []
    for node in {id(n): n for n in scatters}.values():
        if not _is_zeros(node.inputs[0]) or _text(node.attrs.get("reduction", "none")) != "none":
            return None
        reader, value = node, node.inputs[2]
        while (len(value.inputs) == 1 and value.inputs[0].op in _LAYOUT_OPS
               and all(c is reader or c.op in _SHAPE_OPS for c in value.outputs)):
            reader, value = value.inputs[0], value.inputs[0].inputs[0]  # back through layout ops to V
        out = node.outputs[0]
        while (len(out.outputs) == 1 and out.outputs[0].op in _LAYOUT_OPS and out not in rewriter.graph.outputs
               and len(out.outputs[0].outputs) == 1):
            out = out.outputs[0].outputs[0]  # forward through layout ops to T
        uses.append((node, value, out))
    return uses or None


def _is_zeros(tensor: Any) -> bool:
    """True if `tensor` is all zeros: a constant, ConstantOfShape(0), or a Reshape/Expand of one."""
    values = constant_value(tensor)
    if values is not None:
        return not np.any(values)
    if len(tensor.inputs) != 1:
        return False
    producer = tensor.inputs[0]
    if producer.op == "ConstantOfShape":
        fill = producer.attrs.get("value")
        return fill is None or not np.any(np.asarray(fill.values))
    if producer.op in ("Reshape", "Expand", "Identity"):
        return _is_zeros(producer.inputs[0])
    return False


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def proves_switch(rewriter_type: Any, graph: Any, pool: Any, uses: list[Any], source: str) -> bool:
    """True if each use's T equals the switch form's unpooling of its V on every probe (see the module docstring)."""
    ort = require("onnxruntime", "rewrite-unpool (proving a fold)")
    logger = require("onnx_graphsurgeon").logger.G_LOGGER
    quiet, logger.severity = logger.severity, logger.ERROR  # copies repeat the graph's tensor names
    try:
        return _proves(ort, graph, pool, uses, rewriter_type, source)
    finally:
        logger.severity = quiet


def _proves(ort: Any, graph: Any, pool: Any, uses: list[Any], rewriter_type: Any, source: str) -> bool:
    batch = pool.inputs[0].shape[0]
    for n in ([batch] if isinstance(batch, int) else [1, 2]):
        models = [_cut(graph, pool, uses, n, rewriter_type if fold else None, source) for fold in (False, True)]
        if any(m is None for m in models):
            return False
        options = ort.SessionOptions()
        options.log_severity_level = 3
        sessions = [ort.InferenceSession(m.SerializeToString(), options, providers=["CPUExecutionProvider"])
                    for m in models]
        for feeds in _probes(pool, uses, n):
            try:
                want, got = (s.run(None, feeds) for s in sessions)
            except Exception:  # noqa: BLE001 - a probe the original subgraph cannot run disproves the fold
                return False
            if not all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(want, got)):
                return False
    return True


def _cut(graph: Any, pool: Any, uses: list[Any], batch: int, rewriter_type: Any, source: str) -> Any | None:
    """A copy of the subgraph from X and the V inputs ("V.name/probe") to the T outputs at this batch size, with
    every Shape node a constant; folded into the switch form when `rewriter_type` is given. None if it reads any
    other value from the rest of the graph."""
    gs = require("onnx_graphsurgeon", "rewrite-unpool")
    copy = graph.copy()
    tensors = copy.tensors()
    x = tensors[pool.inputs[0].name]
    x.inputs.clear()
    values = {}
    for _, value, _ in uses:
        if value.name in values:
            continue
        values[value.name] = probe = gs.Variable(f"{value.name}/probe", dtype=value.dtype)
        for reader in list(tensors[value.name].outputs):  # every reader of V reads the probe instead
            for slot, tensor in enumerate(list(reader.inputs)):
                if tensor is tensors[value.name]:
                    reader.inputs[slot] = probe
    outs = [tensors[t.name] for _, _, t in uses]
    if rewriter_type is not None:
        copy_pool = copy.nodes[next(i for i, n in enumerate(graph.nodes) if n is pool)]
        builder = rewriter_type(copy, source, prefix="unpool_probe")  # names apart from the rewrite's own
        for (_, value, _), out in zip(uses, outs):
            builder._replace_with_switch(copy_pool, values[value.name], out, tuple(pool.inputs[0].shape[2:]))
    copy.inputs, copy.outputs = [x, *values.values()], outs
    copy.cleanup(remove_unused_graph_inputs=False)
    inside = _reachable(copy.inputs)
    for node in [n for n in copy.nodes if n.op == "Shape" and id(n.inputs[0]) not in inside]:
        dims = node.inputs[0].shape
        if dims is None or not all(isinstance(d, int) for d in dims[1:]):
            return None
        start, end = node.attrs.get("start", 0), node.attrs.get("end", None)
        value = np.array([batch, *dims[1:]], dtype=np.int64)[start:end]
        node.outputs[0].to_constant(value)
        node.outputs.clear()
    copy.cleanup(remove_unused_graph_inputs=False).toposort()
    known = {id(t) for t in copy.inputs}
    for node in copy.nodes:
        for tensor in node.inputs:
            if not (isinstance(tensor, gs.Constant) or tensor.inputs or id(tensor) in known or not tensor.name):
                return None  # a value from outside the subgraph
    model = gs.export_onnx(copy, do_type_check=False)
    del model.graph.value_info[:]
    for value_info in list(model.graph.input) + list(model.graph.output):
        value_info.type.tensor_type.ClearField("shape")
    return model


def _reachable(tensors: list[Any]) -> set[int]:
    """ids of every tensor computed from `tensors` (them included)."""
    seen: set[int] = set()
    frontier = list(tensors)
    while frontier:
        tensor = frontier.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        for node in tensor.outputs:
            frontier.extend(node.outputs)
    return seen


def _probes(pool: Any, uses: list[Any], batch: int) -> list[dict[str, np.ndarray]]:
    """Feeds: X forcing each window position, tie-heavy, constant and random X; all-distinct values V."""
    rng = np.random.default_rng(0)
    dims = [batch] + list(pool.inputs[0].shape[1:])
    dtype = np.dtype(pool.inputs[0].dtype or np.float32)
    xs = []
    for di, dj in ((0, 0), (0, 1), (1, 0), (1, 1)):
        x = rng.integers(0, 3, dims).astype(dtype)
        x[:, :, di::2, dj::2] = 10
        xs.append(x)
    xs += [rng.integers(0, 3, dims).astype(dtype) for _ in range(2)] + [np.ones(dims, dtype)]
    xs += [rng.standard_normal(dims).astype(dtype) for _ in range(_PROBES_PER_BATCH - len(xs))]
    feeds = []
    for x in xs:
        feed = {pool.inputs[0].name: x}
        for _, value, _ in uses:
            shape = dims[:2] + [dims[2] // 2, dims[3] // 2]  # the pooled NCHW shape, which V must have
            feed[f"{value.name}/probe"] = (np.arange(np.prod(shape)) + 1).reshape(shape).astype(value.dtype or dtype)
        feeds.append(feed)
    return feeds
