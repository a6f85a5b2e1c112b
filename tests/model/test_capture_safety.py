"""The step that ``GraphRunner`` captures holds nothing CUDA-graph capture forbids (on the CPU).

No GPU is available to CI, so capture itself cannot run here. Instead the exact step the runner
captures (its ``_run`` on the static buffers, after one warm-up run, as ``CudaGraphCapture`` does)
runs under a ``TorchDispatchMode`` that sees every ATen op and records

* every op that synchronises the host or is illegal while a stream is capturing: scalar reads
  (``.item()``, ``bool(t)``, ``if t:``, ``.tolist()``, ``.numpy()``), ``nonzero``, boolean-mask
  indexing, ``masked_select``, ``unique``, ``repeat_interleave`` without ``output_size``,
  tensors made from Python data (``torch.tensor``, list indexing: ``aten.lift_fresh``, which on a
  GPU is a pageable host-to-device copy), cross-device copies and random-number ops;
* the op trace itself (op, shapes, dtypes, every non-tensor argument). A graph replays the kernels
  of its capture with the arguments of its capture; if a second input of the same bucket gives the
  same trace, the step's result depends only on the contents of the static input buffers.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from aios_ros.model.cuda_graphs import BucketPolicy, GraphRunner, copy_outputs

PACKAGE = str(Path(__file__).resolve().parents[2] / 'aios_ros')
SYNCING = {
    'aten._local_scalar_dense',
    'aten.item',
    'aten.is_nonzero',
    'aten.equal',
    'aten.nonzero',
    'aten.argwhere',
    'aten.masked_select',
    'aten._unique',
    'aten._unique2',
    'aten.unique_dim',
    'aten.unique_consecutive',
    'aten.unique_dim_consecutive',
    'aten.lift_fresh',
    'aten.lift_fresh_copy',
}
RANDOM = {
    'aten.rand',
    'aten.rand_like',
    'aten.randn',
    'aten.randn_like',
    'aten.randint',
    'aten.randint_like',
    'aten.randperm',
    'aten.normal',
    'aten.normal_',
    'aten.uniform_',
    'aten.bernoulli',
    'aten.bernoulli_',
    'aten.multinomial',
    'aten.native_dropout',
    'aten.exponential_',
    'aten.random_',
}
INDEXING = {'aten.index', 'aten.index_put', 'aten.index_put_', 'aten._index_put_impl_'}
COPIES = {'aten._to_copy', 'aten.to', 'aten.copy_', 'aten.copy'}


def _where() -> str:
    """Innermost package source line on the stack (where the offending call was written)."""
    for frame in reversed(traceback.extract_stack()):
        if frame.filename.startswith(PACKAGE):
            return f'{Path(frame.filename).relative_to(Path(PACKAGE).parent)}:{frame.lineno}'
    return '<outside aios_ros>'


def _tensors(x: Any) -> list[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, (list, tuple)):
        return [t for v in x for t in _tensors(v)]
    return []


def _describe(x: Any) -> Any:
    """Hashable description of an op argument: tensors by layout only, values for the rest."""
    if isinstance(x, torch.Tensor):
        return ('tensor', tuple(x.shape), x.dtype, x.device.type)
    if isinstance(x, (list, tuple)):
        return tuple(_describe(v) for v in x)
    if isinstance(x, dict):
        return tuple(sorted((k, _describe(v)) for k, v in x.items()))
    return repr(x)


class CaptureSafety(TorchDispatchMode):
    """Records capture-illegal ops (``violations``: (op, source line)) and the op ``trace``."""

    def __init__(self) -> None:
        super().__init__()
        self.violations: list[tuple[str, str]] = []
        self.trace: list[Any] = []
        self._saved: dict[str, Callable] = {}

    def _violation(self, op: str, args: tuple, kwargs: dict) -> bool:
        if op in SYNCING or op in RANDOM:
            return True
        if op in INDEXING:  # boolean masks become nonzero() inside the kernel
            return any(t.dtype in (torch.bool, torch.uint8) for t in _tensors(args[1]))
        if op == 'aten.repeat_interleave':
            return isinstance(args[0], torch.Tensor) and kwargs.get('output_size') is None
        if op in COPIES:
            devices = {t.device for t in _tensors(args) + _tensors(list(kwargs.values()))}
            target = kwargs.get('device')
            target = next((a for a in args[1:] if isinstance(a, torch.device)), target)
            return len(devices) > 1 or (target is not None and torch.device(target) not in devices)
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        op = str(func.overloadpacket)
        self.trace.append((str(func), _describe(args), _describe(kwargs)))
        if self._violation(op, args, kwargs):
            self.violations.append((str(func), _where()))
        return func(*args, **kwargs)

    def _host_read(self, name: str) -> Callable:
        real = self._saved[name]

        def read(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            self.violations.append((f'Tensor.{name}', _where()))
            return real(tensor, *args, **kwargs)

        return read

    def __enter__(self):
        # .tolist() and .numpy() read memory without dispatching an op; on a device tensor they are
        # a synchronising device-to-host copy.
        for name in ('tolist', 'numpy'):
            self._saved[name] = getattr(torch.Tensor, name)
            setattr(torch.Tensor, name, self._host_read(name))
        return super().__enter__()

    def __exit__(self, *exc):
        for name, real in self._saved.items():
            setattr(torch.Tensor, name, real)
        return super().__exit__(*exc)


def _ops_flagged(fn: Callable[[], Any]) -> list[str]:
    with torch.inference_mode(), CaptureSafety() as mode:
        fn()
    return [op for op, _ in mode.violations]


X = torch.arange(24.0).view(2, 3, 4)


@pytest.mark.parametrize(
    'fn, op',
    [
        (lambda: X.sum().item(), 'aten.item.default'),
        (lambda: int(X.sum()), 'aten.item.default'),
        (lambda: torch.ops.aten._local_scalar_dense(X.sum()), 'aten._local_scalar_dense'),
        (lambda: bool(X.sum() > 0), 'aten.is_nonzero.default'),
        (lambda: X[0, 0].tolist(), 'Tensor.tolist'),
        (lambda: X.numpy(), 'Tensor.numpy'),
        (lambda: X.nonzero(), 'aten.nonzero.default'),
        (lambda: X[X > 3], 'aten.index.Tensor'),
        (lambda: X.masked_select(X > 3), 'aten.masked_select.default'),
        (lambda: torch.unique(X), 'aten._unique2.default'),
        (lambda: X[:, [0, 2]], 'aten.lift_fresh.default'),
        (lambda: X * torch.tensor([1.0, 2.0, 3.0, 4.0]), 'aten.lift_fresh.default'),
        (
            lambda: X.long().flatten().repeat_interleave(X.long().flatten()),
            'aten.repeat_interleave',
        ),
        (lambda: X.to('meta'), 'aten.to.dtype_layout'),
        (lambda: torch.rand(3), 'aten.rand.default'),
    ],
)
def test_detector_flags_each_forbidden_op(fn, op):
    assert any(f.startswith(op) for f in _ops_flagged(fn)), _ops_flagged(fn)


def test_detector_passes_capture_safe_code():
    idx = torch.tensor([0, 2])
    mask = X > 3

    def safe():
        y = X.masked_fill(mask, 0.0)[:, idx] * 2.0
        torch.topk(y.flatten(1), 3)
        torch.gather(X, 2, torch.zeros(2, 3, 1, dtype=torch.long))
        X.flatten().repeat_interleave(torch.ones(24, dtype=torch.long), output_size=24)

    assert _ops_flagged(safe) == []


class CheckedCapture:
    """Capture strategy of CudaGraphCapture's shape: warm-up, then the 'captured' run under the
    detector; its replay runs the step under the detector too."""

    def __init__(self) -> None:
        self.modes: list[CaptureSafety] = []

    def capture(self, step: Callable[[], Any]) -> tuple[Callable[[], None], Any]:
        step()  # warm-up: lazy initialisation is allowed here, as on the GPU side stream
        outputs = self._checked(step)

        def replay() -> None:
            copy_outputs(outputs, self._checked(step))

        return replay, outputs

    def _checked(self, step: Callable[[], Any]) -> Any:
        mode = CaptureSafety()
        with mode:
            out = step()
        self.modes.append(mode)
        return out


def _inputs(batch: int, h: int, w: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random normalised images; in a batch of two the second is narrower (padded on the right)."""
    images = torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(seed))
    mask = torch.zeros(batch, h, w, dtype=torch.bool)
    if batch == 2:
        images[1, :, :, w - 40 :] = 0
        mask[1, :, w - 40 :] = True
    return images, mask


@pytest.mark.parametrize(
    'autocast, batch, size',
    [
        (None, 1, (224, 224)),
        (None, 2, (224, 280)),
        (torch.bfloat16, 1, (224, 280)),
        (torch.bfloat16, 2, (224, 224)),
    ],
    ids=['fp32-b1-224x224', 'fp32-b2-224x288', 'bf16-b1-224x288', 'bf16-b2-224x224'],
)
def test_captured_forward_is_capture_safe_and_input_independent(
    seeded_model, autocast, batch, size
):
    strategy = CheckedCapture()
    runner = GraphRunner(
        lambda img, mask: seeded_model(img, mask)[0],
        'cpu',
        BucketPolicy(),
        strategy,
        autocast_dtype=autocast,
    )
    first = runner(*_inputs(batch, *size, seed=1))
    second = runner(*_inputs(batch, *size, seed=2))  # same bucket: a replay
    # capture, the replay that computes the first result, the replay of the second input
    captured, _, replayed = strategy.modes
    assert captured.violations == [], sorted(set(captured.violations))
    assert len(captured.trace) > 1000  # the whole network ran under the detector
    # Same kernels with the same arguments for another input of the bucket: a replay of the
    # captured graph computes this input's result.
    assert replayed.trace == captured.trace
    assert not torch.equal(first['pred_boxes'], second['pred_boxes'])
