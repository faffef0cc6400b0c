"""The per-sample masked forward pass, eager or compiled, under bf16 autocast on CUDA.

Everything a policy step costs beyond a plain training step is here and in the gates' hooks,
so this is where the CUDA fast path lives: bf16 autocast (no loss scaling needed), and
optionally ``torch.compile`` of the network with its gate hooks attached (compiled once per
network, mode and batch shape; a new mask is a new input, not a recompile). Where
``torch.compile`` is missing or fails, the pass falls back to eager with one warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import Tensor, nn

from decore_env.channels.gates import ChannelGates
from decore_env.common.modes import autocast

T = TypeVar("T")

_warned = False
"""Whether the fallback warning was given: once per process, however many networks fall back."""


def _warn_fallback(error: BaseException) -> None:
    global _warned
    if not _warned:
        _warned = True
        detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
        warnings.warn(
            f"torch.compile is unavailable or failed ({type(error).__name__}: {detail:.200}); "
            "running the masked forward eagerly (same results, slower)",
            RuntimeWarning,
            stacklevel=3,
        )


class MaskedForward:
    """``forward(images, masks)``: float32 logits of ``model`` with ``masks`` applied per sample.

    :param model: the network, already on ``device``.
    :param gates: its channel gates.
    :param device: where images and masks live; on CUDA the pass runs under bf16 autocast.
    :param compile: ``torch.compile`` the network, with the gate hooks attached to it for the
        life of this object (see :meth:`ChannelGates.attach`; :meth:`close` removes them).
    """

    def __init__(
        self, model: nn.Module, gates: ChannelGates, device: torch.device, compile: bool = False
    ) -> None:
        self.model, self.gates, self.device = model, gates, torch.device(device)
        self._compiled: Callable[[Tensor], Tensor] | None = None
        if compile:
            gates.attach(self.device)  # hooks before compiling: dynamo traces them
            try:
                self._compiled = torch.compile(model)
            except Exception as error:  # e.g. a Python version dynamo does not support
                self.close()
                _warn_fallback(error)

    @property
    def compiled(self) -> bool:
        """Whether the pass runs compiled (False after a fallback)."""
        return self._compiled is not None

    def __call__(self, images: Tensor, masks: Tensor) -> Tensor:
        net = self.model if self._compiled is None else self._compiled
        with self.gates.masked(masks), autocast(self.device):
            return net(images).float()

    def run(self, step: Callable[[], T]) -> T:
        """``step()``, a pass through this forward and maybe its backward; if the compiled
        pass fails (compiling happens on first use, the backward's at the first backward),
        warn once, fall back to eager for good and run ``step()`` again.

        Running out of memory is not a compile failure: it is raised as it is. A failure in
        the backward's compile comes after the forward ran: in train mode that batch then
        updates the BatchNorm running statistics twice.
        """
        if self._compiled is None:
            return step()
        try:
            return step()
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception as error:
            self.close()
            _warn_fallback(error)
            return step()

    def close(self) -> None:
        """Run eagerly from now on and leave the network without hooks."""
        self._compiled = None
        self.gates.detach()
