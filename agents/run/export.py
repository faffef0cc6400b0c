"""Export a run's pruned network for deployment, and prove the export computes the same.

``pt2`` is a ``torch.export`` program (built in; ``torch.export.load(path).module()``),
``onnx`` an ONNX graph (needs the ``onnx`` extra). Neither holds pickled code. Both have a
dynamic batch dimension and are reloaded and compared with the pruned network on random
inputs before their path is returned.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from agents.run.folders import read_report
from decore_env.channels.surgery import load_pruned
from decore_env.common.files import atomic_write, read_tensors
from decore_env.training.metrics import count_params

FORMATS = ("pt2", "onnx")
SUFFIX = {"pt2": ".pt2", "onnx": ".onnx"}
CHECK_BATCH = 4
"""Images of the output check (any batch size works: the batch dimension is dynamic)."""
MAX_BATCH = 1 << 16
"""Upper bound of the dynamic batch dimension that torch.export needs."""


def export(run_dir: Path, fmt: str, out: Path | None = None) -> tuple[Path, float]:
    """Write the pruned network of ``run_dir`` as ``fmt``; returns the path and the largest
    absolute difference between the reloaded export's and the pruned network's outputs."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    source = Path(run_dir) / "pruned.pt"
    if not source.is_file():
        raise ValueError(
            f"{run_dir} holds no pruned.pt; export a finished run (continue this one with "
            f"decore compress --resume {run_dir})"
        )
    model = load_pruned(source)  # refuses anything but a pruned network, in one line
    _check_against_report(model, Path(run_dir))
    shape = tuple(read_tensors(source)["input_shape"])
    path = out if out is not None else source.with_suffix(SUFFIX[fmt])
    if path.is_dir():
        raise ValueError(f"--out {path} is a folder; give a file name")
    images = torch.randn(CHECK_BATCH, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(images)
    writer = {"pt2": _pt2, "onnx": _onnx}[fmt]
    try:
        got = writer(model, images, path)
    except ImportError:
        raise
    except Exception as exc:  # torch.export / the ONNX exporter: name the format and why
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"export to {fmt} failed: {reason:.200}") from exc
    return path, float((got - expected).abs().max())


def _check_against_report(model: nn.Module, run_dir: Path) -> None:
    """Refuse a ``pruned.pt`` whose params differ from what the run's report measured (files
    of two runs mixed by hand); a folder without a report has nothing to check against."""
    if not (run_dir / "report.json").is_file():
        return
    pruned = read_report(run_dir).get("pruned")
    recorded = pruned.get("params") if isinstance(pruned, dict) else None
    params = count_params(model)
    if recorded != params:
        raise ValueError(
            f"{run_dir / 'pruned.pt'} has {params:,} params but {run_dir / 'report.json'} "
            f"records {recorded!r}: the two files come from different runs; export the run "
            "that wrote both (or rerun it)"
        )


def _batch_dim() -> tuple[dict[int, torch.export.Dim]]:
    return ({0: torch.export.Dim("batch", min=1, max=MAX_BATCH)},)


def _pt2(model: nn.Module, images: Tensor, path: Path) -> Tensor:
    program = torch.export.export(model, (images,), dynamic_shapes=_batch_dim())
    atomic_write(path, lambda f: torch.export.save(program, f))
    with torch.no_grad():
        return torch.export.load(path).module()(images)


def _onnx(model: nn.Module, images: Tensor, path: Path) -> Tensor:
    try:
        import onnxruntime
    except ImportError:
        raise ImportError(
            "ONNX export needs the onnx extra: pip install 'decore-env[onnx]'"
        ) from None
    program = torch.onnx.export(
        model, (images,), dynamo=True, dynamic_shapes=_batch_dim(), verbose=False
    )
    atomic_write(path, lambda f: f.write(program.model_proto.SerializeToString()))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return torch.from_numpy(session.run(None, {name: images.numpy()})[0])
