"""Bucketed CUDA-graph runtime for the whole AiOS forward (with an eager fallback).

A CUDA graph replays a fixed sequence of kernels on fixed memory, so every input shape needs its
own graph. :class:`GraphRunner` therefore

1. maps the input size (H, W) to a *bucket* — H and W rounded up to a multiple of 32 — so a
   camera stream needs one capture;
2. keeps per bucket *static* input buffers: the image is copied to the top-left corner, the rest
   is zero and the padding mask is True there (the model's ordinary batch-padding convention, so
   the valid region is processed like an official padded batch);
3. captures ``forward(static_images, static_mask)`` once per bucket through a
   :class:`CaptureStrategy` (warm-up on a side stream, then ``torch.cuda.graph`` with a pool of its
   own), replays it for every later call and clones the outputs before returning, because the
   next replay overwrites them;
4. re-captures when a new bucket appears (least-recently used buckets beyond ``max_buckets`` are
   dropped, releasing their memory pools) and, if a capture fails, logs its root cause once (with
   the traceback), remembers it and runs every bucket eagerly on its static buffers from then on
   (a failing forward fails for every bucket; retrying would repeat warm-ups and a failed capture
   per new input size).

Nothing CUDA-specific is touched at import time or by the CPU path: on CPU the
:class:`EagerCapture` strategy "replays" by calling the forward again and copying the results into
the captured output tensors, which exercises exactly the buffer logic the GPU path uses.

Requirements on ``forward`` for real capture: static shapes for a given bucket, no host
synchronisation (no ``.item()``, ``.tolist()`` or ``.cpu()`` of device tensors, no data-dependent
shapes, no host-to-device copies after warm-up); outputs must be tensors in dicts, lists, tuples or
dataclasses.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict
from typing import Any, Callable, Protocol

import torch

__all__ = [
    'BucketPolicy',
    'CaptureStrategy',
    'CudaGraphCapture',
    'EagerCapture',
    'GraphRunner',
    'default_strategy',
]

log = logging.getLogger(__name__)

Forward = Callable[[torch.Tensor, torch.Tensor], Any]
WARMUP_ITERS = 3  # eager runs before a capture (see CudaGraphCapture.capture)


@dataclasses.dataclass(frozen=True)
class BucketPolicy:
    """Padded input size for an (H, W) network input: H and W rounded up to a multiple of
    ``multiple``."""

    multiple: int = 32

    def bucket(self, height: int, width: int) -> tuple[int, int]:
        if height <= 0 or width <= 0:
            raise ValueError(f'input size must be positive, got {height}x{width}')
        m = self.multiple
        return -(-height // m) * m, -(-width // m) * m


def map_tensors(tree: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """``tree`` (a nest of dicts, lists, tuples and dataclasses) with ``fn`` applied to every
    tensor in it."""
    if isinstance(tree, torch.Tensor):
        return fn(tree)
    if isinstance(tree, dict):
        return {k: map_tensors(v, fn) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        items = [map_tensors(v, fn) for v in tree]
        return type(tree)(*items) if hasattr(tree, '_fields') else type(tree)(items)
    if dataclasses.is_dataclass(tree) and not isinstance(tree, type):
        return dataclasses.replace(
            tree,
            **{
                f.name: map_tensors(getattr(tree, f.name), fn)
                for f in dataclasses.fields(tree)
                if f.init
            },
        )
    return tree


def clone_outputs(tree: Any) -> Any:
    """Deep copy of every tensor in a nest of dicts, lists, tuples and dataclasses."""
    return map_tensors(tree, torch.Tensor.clone)


def copy_outputs(dst: Any, src: Any) -> None:
    """In-place ``dst <- src`` for two nests of the same structure (tensors of the same shapes)."""
    if isinstance(dst, torch.Tensor):
        if dst.shape != src.shape:
            raise RuntimeError(
                f'forward output changed shape from {tuple(dst.shape)} to '
                f'{tuple(src.shape)} for the same bucket; it cannot be graph-captured'
            )
        dst.copy_(src)
    elif isinstance(dst, dict):
        for k, v in dst.items():
            copy_outputs(v, src[k])
    elif isinstance(dst, (list, tuple)):
        for a, b in zip(dst, src, strict=True):
            copy_outputs(a, b)
    elif dataclasses.is_dataclass(dst) and not isinstance(dst, type):
        for f in dataclasses.fields(dst):
            copy_outputs(getattr(dst, f.name), getattr(src, f.name))


class CaptureStrategy(Protocol):
    """Turns a zero-argument step on static buffers into (replay, static outputs).

    After ``replay()`` the returned static outputs hold the results for the current contents of
    the static inputs.
    """

    def capture(self, step: Callable[[], Any]) -> tuple[Callable[[], None], Any]: ...


class EagerCapture:
    """CPU stand-in with graph semantics: replay re-runs the step into the same output tensors."""

    def capture(self, step: Callable[[], Any]) -> tuple[Callable[[], None], Any]:
        outputs = step()

        def replay() -> None:
            copy_outputs(outputs, step())

        return replay, outputs


class CudaGraphCapture:
    """``torch.cuda.CUDAGraph`` capture: warm-up on a side stream, capture into a private pool.

    Each capture gets its own memory pool, so graphs of different buckets never share memory and
    can be replayed in any order; dropping the returned replay function (and outputs) frees it.
    """

    def __init__(self) -> None:
        self._side: torch.cuda.Stream | None = None

    def capture(self, step: Callable[[], Any]) -> tuple[Callable[[], None], Any]:
        # Warm-up runs lazy initialisations (cuBLAS handles, autotuning) that are illegal during
        # capture; a side stream keeps them off the capture stream's history. One side stream per
        # runner: cuBLAS keeps a workspace per stream for the life of the process.
        if self._side is None:
            self._side = torch.cuda.Stream()
        side = self._side
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP_ITERS):
                step()
        stream = torch.cuda.current_stream()
        stream.wait_stream(side)
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        try:
            # thread_local: a CUDA call of another thread (the node's other threads) neither
            # breaks this capture nor is refused because of it.
            with torch.cuda.graph(
                graph, pool=torch.cuda.graph_pool_handle(), capture_error_mode='thread_local'
            ):
                outputs = step()
        except BaseException:
            # graph.__exit__ raises from capture_end before it leaves its capture stream: go back
            # to the caller's stream, then drop the half-built graph and its private pool.
            torch.cuda.set_stream(stream)
            graph.reset()
            del graph
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            raise
        return graph.replay, outputs


def default_strategy(device: torch.device) -> CaptureStrategy:
    """CUDA graphs on a CUDA device, the eager stand-in elsewhere."""
    return CudaGraphCapture() if device.type == 'cuda' else EagerCapture()


@dataclasses.dataclass
class _Bucket:
    images: torch.Tensor  # (B, C, Hb, Wb) static input
    mask: torch.Tensor  # (B, Hb, Wb) bool static input, True on padding
    replay: Callable[[], None] | None  # None: capture failed, run eagerly
    outputs: Any = None


class GraphRunner:
    """Run ``forward(images, mask)`` through per-bucket captured graphs.

    Parameters
    ----------
    forward : the network, ``(images (B, C, H, W) float, mask (B, H, W) bool) -> outputs``.
    device : where the static buffers live (inputs are copied there).
    policy : input-size buckets.
    strategy : capture strategy; default :func:`default_strategy` of ``device``.
    autocast_dtype : e.g. ``torch.bfloat16``/``torch.float16`` to run under autocast, or None.
    max_buckets : captured buckets kept alive (least recently used are dropped first).
    """

    def __init__(
        self,
        forward: Forward,
        device: torch.device | str,
        policy: BucketPolicy | None = None,
        strategy: CaptureStrategy | None = None,
        autocast_dtype: torch.dtype | None = None,
        max_buckets: int = 4,
    ) -> None:
        self.forward = forward
        self.device = torch.device(device)
        self.policy = policy or BucketPolicy()
        self.strategy = strategy or default_strategy(self.device)
        self.autocast_dtype = autocast_dtype
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[tuple, _Bucket] = OrderedDict()
        #: the first capture failure (its root cause); later buckets then run eagerly at once
        self.capture_error: BaseException | None = None
        #: calls answered by replaying a captured bucket
        self.replays = 0

    @property
    def buckets(self) -> list[tuple]:
        """Keys (B, C, Hb, Wb, dtype) of the live buckets, least recently used first."""
        return list(self._buckets)

    def _run(self, images: torch.Tensor, mask: torch.Tensor) -> Any:
        # The autocast weight cache is freed when the context exits, but a captured graph keeps
        # reading the cast copies it was recorded with: CUDA graphs require the cache off.
        with torch.autocast(
            self.device.type,
            dtype=self.autocast_dtype,
            enabled=self.autocast_dtype is not None,
            cache_enabled=False,
        ):
            return self.forward(images, mask)

    def _load(self, bucket: _Bucket, images: torch.Tensor, mask: torch.Tensor) -> None:
        h, w = images.shape[-2:]
        bucket.images.zero_()
        bucket.images[..., :h, :w].copy_(images)
        bucket.mask.fill_(True)
        bucket.mask[:, :h, :w].copy_(mask)

    def _build(self, key: tuple, images: torch.Tensor, mask: torch.Tensor) -> _Bucket:
        b, c, hb, wb, dtype = key
        bucket = _Bucket(
            torch.zeros(b, c, hb, wb, dtype=dtype, device=self.device),
            torch.ones(b, hb, wb, dtype=torch.bool, device=self.device),
            None,
        )
        self._load(bucket, images, mask)
        if self.capture_error is None:
            try:
                bucket.replay, bucket.outputs = self.strategy.capture(
                    lambda: self._run(bucket.images, bucket.mask)
                )
            except Exception as exc:  # any capture failure must leave a working (eager) runtime
                # A failed capture surfaces as "operation failed due to a previous error during
                # capture" from capture_end; the op that broke it is the exception's context.
                root = exc.__context__ if exc.__context__ is not None else exc
                self.capture_error = root
                log.warning(
                    'graph capture failed for input bucket %sx%s (%s: %s); this runner runs '
                    'eagerly from now on',
                    hb,
                    wb,
                    type(root).__name__,
                    root,
                    exc_info=root,
                )
        while len(self._buckets) >= self.max_buckets:
            self._buckets.popitem(last=False)
        self._buckets[key] = bucket
        return bucket

    def __call__(self, images: torch.Tensor, mask: torch.Tensor | None = None) -> Any:
        """Outputs of ``forward`` on the bucket-padded input; fresh tensors the caller may keep.

        images : (B, C, H, W); mask : (B, H, W) bool, True on padding (None: no padding).
        """
        if images.dim() != 4:
            raise ValueError(f'images must be (B, C, H, W), got shape {tuple(images.shape)}')
        b, c, h, w = images.shape
        if mask is None:
            mask = torch.zeros(b, h, w, dtype=torch.bool, device=images.device)
        elif mask.shape != (b, h, w) or mask.dtype != torch.bool:
            raise ValueError(
                f'mask must be bool ({b}, {h}, {w}), got {mask.dtype} {tuple(mask.shape)}'
            )
        key = (b, c, *self.policy.bucket(h, w), images.dtype)
        with torch.inference_mode():
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._build(key, images, mask)
            else:
                self._buckets.move_to_end(key)
                self._load(bucket, images, mask)
            if bucket.replay is None:
                return self._run(bucket.images, bucket.mask)
            bucket.replay()
            self.replays += 1
            return clone_outputs(bucket.outputs)
