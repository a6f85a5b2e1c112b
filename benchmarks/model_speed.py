"""Benchmark the AiOS forward against a plain ResNet-50 measured side by side (script, not a test).

    python -m aios_ros.tools.bench_model --size 800x1333 [--dtype fp32|bf16|auto] [--repeats 5] \\
        [--batch N] --json OUT

Builds the network with seeded random weights, then times, interleaved (model, ResNet-50, model,
...) so that machine load hits both alike: the whole estimator step (network + SMPL-X for the
returned people + post-processing) and, inside it, the stages backbone / encoder / decoder / heads
(everything else in the network forward: input projections, position encodings, query selection,
prediction heads) / SMPL-X / postprocess. The ResNet-50 is the torchvision layout (fp32, NCHW,
eval BatchNorm, returns C3-C5 like a detection backbone). The printed ratio model / ResNet-50 is
the machine-independent number; absolute times on a shared machine are noisy.

For the sizes of the official measurement (issue 5: official AiOS vs the same ResNet-50, 2
threads, this CPU) the tool also prints the speed-up over the official model as the ratio of the
two ResNet-50 ratios.

``--batch N`` times one estimator step over N images of that size (N cameras of one node: one
forward of batch N, SMPL-X and post-processing per image) and, interleaved with it, the same step
on one image; it reports the batch step's cost and the per-frame cost against batch 1
(``batch_vs_batch1``, ``per_frame_vs_batch1``). Stage times and the ResNet-50 ratio are those of
the batch step (the ResNet-50 stays at batch 1).

``--dtype auto`` runs what ``model.dtype: auto`` picks here (reported as ``dtype``, the request
as ``dtype_requested``). With bf16 the network runs under CPU bf16 autocast and the tool also
reports the relative error of the people's boxes, joints and vertices against an fp32 run of the
same weights and image, once with the fp32 run's query/person selections imposed (pure numerical
error) and once with free selection. ``--msda`` adds the fast vs reference deformable-attention
core timing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn

from aios_ros.core.smplx import POSE_SLICES
from aios_ros.core.types import Camera, IntrinsicsSource
from aios_ros.model.camera import cam_to_translation
from aios_ros.model.config import ModelConfig
from aios_ros.model.estimator import BOX_OUTPUTS, AiosEstimator, build_model
from aios_ros.model.ms_deform_attn import msda_core_fast, msda_core_reference
from aios_ros.model.preprocess import make_batch

STAGES = ('backbone', 'encoder', 'decoder', 'heads', 'smplx', 'postprocess')
# Official AiOS (fp32 eager) and plain ResNet-50 medians, seconds, 2 threads, this CPU (issue 5).
OFFICIAL_S = {(800, 1333): (18.1, 1.65), (512, 853): (9.98, 0.54), (256, 341): (6.1, 0.20)}


def parse_size(text: str) -> tuple[int, int]:
    """'800x1333' -> (800, 1333)."""
    try:
        h, w = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'size must look like 800x1333, got {text!r}') from None
    if h < 64 or w < 64:
        raise argparse.ArgumentTypeError(f'size must be at least 64x64, got {text!r}')
    return h, w


class _Bottleneck(nn.Module):
    def __init__(self, in_ch: int, width: int, stride: int) -> None:
        super().__init__()
        out = width * 4
        self.body = nn.Sequential(
            nn.Conv2d(in_ch, width, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, out, 1, bias=False),
            nn.BatchNorm2d(out),
        )
        self.skip = (
            nn.Identity()
            if stride == 1 and in_ch == out
            else nn.Sequential(nn.Conv2d(in_ch, out, 1, stride, bias=False), nn.BatchNorm2d(out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class PlainResNet50(nn.Module):
    """torchvision-layout ResNet-50 without pool/fc, returning C3, C4, C5 (the yardstick)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        stages, in_ch = [], 64
        for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            stages.append(
                nn.Sequential(
                    *[
                        _Bottleneck(in_ch if i == 0 else width * 4, width, stride if i == 0 else 1)
                        for i in range(blocks)
                    ]
                )
            )
            in_ch = width * 4
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats[1:]


def plain_resnet50(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return PlainResNet50().eval()


class Subject:
    """The estimator step on ``batch`` synthetic BGR images whose network input is exactly
    ``size``."""

    def __init__(self, size: tuple[int, int], dtype: str, seed: int, batch: int = 1) -> None:
        h, w = size
        self.config = ModelConfig(
            dtype=dtype,
            short_side=min(h, w),
            max_size=max(h, w),
            seed=seed,
            candidate_threshold=0.0,
        )
        model = build_model(self.config)
        self.estimator = AiosEstimator(model, model.body_model, self.config)
        rng = torch.Generator().manual_seed(seed)
        self.images = [
            torch.randint(0, 256, (h, w, 3), generator=rng, dtype=torch.uint8).numpy()
            for _ in range(batch)
        ]
        self.image = self.images[0]
        K = torch.tensor([[1000.0, 0, w / 2], [0, 1000.0, h / 2], [0, 0, 1]], dtype=torch.float64)
        self.camera = Camera(K.numpy(), w, h, IntrinsicsSource.PARAMETER)
        self.stage_modules = {
            'network': model,
            'backbone': model.backbone[0],
            'encoder': model.transformer.encoder,
            'decoder': model.transformer.decoder,
            'smplx': self.estimator.smplx,
        }

    def step(self):
        return self.estimator.estimate_batch(self.images, [self.camera] * len(self.images))

    def step_one(self):
        return self.estimator.estimate(self.image, self.camera)

    @staticmethod
    def split_stages(seconds: dict[str, float], total: float) -> dict[str, float]:
        """Hook times -> STAGES; 'heads' = network minus backbone/encoder/decoder (projections,
        position encodings, query selection, heads); 'postprocess' = everything outside the
        network and SMPL-X (image resize/normalisation, selection, projection, numpy output)."""
        inner = seconds['backbone'] + seconds['encoder'] + seconds['decoder']
        return {
            'backbone': seconds['backbone'],
            'encoder': seconds['encoder'],
            'decoder': seconds['decoder'],
            'heads': seconds['network'] - inner,
            'smplx': seconds.get('smplx', 0.0),
            'postprocess': total - seconds['network'] - seconds.get('smplx', 0.0),
        }

    def people(self, tape: list | None = None, replay: bool = False) -> dict[str, torch.Tensor]:
        """All G decoder people (network outputs + SMPL-X), keyed by the decoder query they came
        from, and the queries the estimator would return (for bf16 vs fp32).

        ``tape`` records the two top-k selections of the forward (900 queries, 100 people) or,
        with ``replay``, imposes recorded ones, so that two precisions can be compared on the
        same people (with random weights the near-tied scores otherwise reshuffle them).
        """
        est = self.estimator
        batch = make_batch([self.image], self.config.short_side, self.config.max_size)
        with est._autocast(), _topk_tape(tape, replay):
            out, trace = est.model(batch.img, batch.mask)
        out = {k: v.float()[0] for k, v in out.items()}
        query = trace.transformer.decoder.person_index[0]
        rot = out['rotmat']
        body = est.smplx(
            **{name: rot[:, s] for name, s in POSE_SLICES.items()},
            betas=out['pred_smpl_beta'],
            expression=out['pred_smpl_expr'],
        )
        transl = cam_to_translation(out['pred_smpl_cam'])[:, None]
        hw = batch.img_shape[0].flip(0).repeat(2).float()
        boxes = [out[k] * hw for k in BOX_OUTPUTS]
        return {
            'query': query,
            'returned': query[est._select(out['pred_logits'])[1]],
            'boxes_px': torch.stack(boxes, 1),
            'joints_m': body.joints + transl,
            'vertices_m': body.vertices + transl,
            'joints_body_frame_m': body.joints,
        }


@contextmanager
def _topk_tape(tape: list | None, replay: bool) -> Iterator[None]:
    """Record (or replay) the indices of every ``torch.topk`` call inside the block."""
    if tape is None:
        yield
        return
    real = torch.topk

    def topk(input: torch.Tensor, k: int, dim: int = -1, **kwargs):
        values, index = real(input, k, dim=dim, **kwargs)
        if replay:
            index = tape.pop(0)
            values = torch.gather(input, dim, index)
        else:
            tape.append(index)
        return values, index

    torch.topk = topk
    try:
        yield
    finally:
        torch.topk = real


def relative_errors(ref: dict[str, torch.Tensor], test: dict[str, torch.Tensor]) -> dict:
    """||test - ref|| / ||ref|| per output over the decoder people both runs kept (matched by the
    query they came from; with random weights near-tied scores make the selections differ)."""
    pos = {int(q): i for i, q in enumerate(test['query'])}
    pairs = [(i, pos[int(q)]) for i, q in enumerate(ref['query']) if int(q) in pos]
    returned = set(test['returned'].tolist())
    result = {
        'people': len(ref['query']),
        'people_matched': len(pairs),
        'returned': len(ref['returned']),
        'returned_also_in_bf16': sum(int(q) in returned for q in ref['returned']),
    }
    if pairs:
        a, b = (torch.tensor(ix) for ix in zip(*pairs))
        for key in ('boxes_px', 'joints_m', 'vertices_m', 'joints_body_frame_m'):
            r, t = ref[key][a], test[key][b]
            per_person = (t - r).flatten(1).norm(dim=1) / r.flatten(1).norm(dim=1)
            result[key] = float((t - r).norm() / r.norm())
            result[key + '_per_person_median'] = float(per_person.median())
            result[key + '_per_person_max'] = float(per_person.max())
    return result


class StageClock:
    """Wall time per named module, collected with forward hooks (CPU execution is synchronous)."""

    def __init__(self, modules: dict[str, nn.Module]) -> None:
        self.seconds: dict[str, float] = {}
        self._start: dict[str, float] = {}
        for name, module in modules.items():
            module.register_forward_pre_hook(self._pre(name))
            module.register_forward_hook(self._post(name))

    def _pre(self, name: str) -> Callable:
        def hook(*_):
            self._start[name] = time.perf_counter()

        return hook

    def _post(self, name: str) -> Callable:
        def hook(*_):
            self.seconds[name] = (
                self.seconds.get(name, 0.0) + time.perf_counter() - self._start[name]
            )

        return hook

    @contextmanager
    def run(self) -> Iterator[dict[str, float]]:
        self.seconds = {}
        yield self.seconds


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(
    size: tuple[int, int], dtype: str, repeats: int, warmup: int, seed: int, batch: int = 1
) -> dict:
    """Interleaved timings of the estimator step and the ResNet-50 (and with ``batch`` > 1 the
    step on one image); see module docstring."""
    subject = Subject(size, dtype, seed, batch)
    dtype = subject.estimator.dtype  # auto resolved for this machine
    resnet = plain_resnet50(seed)
    image = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(seed))
    clock = StageClock(subject.stage_modules)
    model_s, resnet_s, one_s, stages = [], [], [], []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            with clock.run() as seconds:
                t0 = time.perf_counter()
                subject.step()
                model_t = time.perf_counter() - t0
            stage_t = subject.split_stages(dict(seconds), model_t)
            t0 = time.perf_counter()
            resnet(image)
            resnet_t = time.perf_counter() - t0
            t0 = time.perf_counter()
            if batch > 1:
                subject.step_one()
            one_t = time.perf_counter() - t0
            if i >= warmup:
                model_s.append(model_t)
                resnet_s.append(resnet_t)
                one_s.append(one_t)
                stages.append(stage_t)
            print(
                f'  run {i + 1}/{warmup + repeats}: model {model_t:.3f} s, '
                f'resnet50 {resnet_t:.3f} s'
                + (f', batch 1 {one_t:.3f} s' if batch > 1 else '')
                + (' (warm-up)' if i < warmup else ''),
                file=sys.stderr,
            )
    med, res_med = statistics.median(model_s), statistics.median(resnet_s)
    result = {
        'size': list(size),
        'dtype': dtype,
        'dtype_requested': subject.config.dtype,
        'threads': torch.get_num_threads(),
        'torch': torch.__version__,
        'repeats': repeats,
        'forward_median_s': med,
        'forward_p90_s': _quantile(model_s, 0.9),
        'resnet50_median_s': res_med,
        'resnet50_p90_s': _quantile(resnet_s, 0.9),
        'ratio': med / res_med,
        'ratio_of_pairs_median': statistics.median(m / r for m, r in zip(model_s, resnet_s)),
        'per_stage_s': {k: statistics.median(s[k] for s in stages) for k in STAGES},
        'forward_runs_s': model_s,
        'resnet50_runs_s': resnet_s,
        'batch': batch,
    }
    if batch > 1:
        one = statistics.median(one_s)
        result.update(
            batch1_median_s=one,
            batch1_runs_s=one_s,
            batch_vs_batch1=med / one,
            per_frame_vs_batch1=med / one / batch,
        )
    if tuple(size) in OFFICIAL_S:
        official, official_resnet = OFFICIAL_S[tuple(size)]
        result['official_ratio'] = official / official_resnet
        result['speedup_vs_official'] = result['official_ratio'] / result['ratio']
    if dtype == 'bf16':
        reference, tape = Subject(size, 'fp32', seed), []
        with torch.inference_mode():
            ref_people = reference.people(tape)
            result['bf16_rel_error_vs_fp32'] = relative_errors(
                ref_people, subject.people(tape, True)
            )
            result['bf16_free_selection'] = relative_errors(ref_people, subject.people())
    return result


def measure_msda(size: tuple[int, int], repeats: int, seed: int) -> dict:
    """Fast vs reference deformable-attention core, interleaved, on the encoder workload of an
    input of ``size`` (every token of the 4 levels is a query; 8 heads, 4 points)."""
    # Every stride-2 step rounds up, so level l of the input is ceil(size / stride_l).
    shapes = [(-(-size[0] // s), -(-size[1] // s)) for s in (8, 16, 32, 64)]
    tokens = sum(a * b for a, b in shapes)
    g = torch.Generator().manual_seed(seed)
    value = torch.randn(1, tokens, 8, 32, generator=g)
    loc = torch.rand(1, tokens, 8, 4, 4, 2, generator=g) * 1.2 - 0.1
    attn = torch.rand(1, tokens, 8, 16, generator=g).softmax(-1).view(1, tokens, 8, 4, 4)
    times = {'fast': [], 'reference': []}
    with torch.inference_mode():
        for _ in range(repeats):
            for name, core in (('fast', msda_core_fast), ('reference', msda_core_reference)):
                t0 = time.perf_counter()
                out = core(value, shapes, loc, attn)
                times[name].append(time.perf_counter() - t0)
                if name == 'fast':
                    fast_out = out
        max_diff = float((fast_out - out).abs().max())
    fast, ref = statistics.median(times['fast']), statistics.median(times['reference'])
    return {
        'queries': tokens,
        'fast_median_s': fast,
        'reference_median_s': ref,
        'speedup': ref / fast,
        'max_abs_diff': max_diff,
    }


def print_table(r: dict) -> None:
    h, w = r['size']
    batch = f', batch {r["batch"]}' if r['batch'] > 1 else ''
    print(
        f'\nAiOS forward {h}x{w}{batch} {r["dtype"]}, {r["threads"]} threads, torch '
        f'{r["torch"]}, median of {r["repeats"]}'
    )
    print(f'{"stage":<14}{"median s":>10}')
    for k, v in r['per_stage_s'].items():
        print(f'{k:<14}{v:>10.3f}')
    print(f'{"total":<14}{r["forward_median_s"]:>10.3f}   (p90 {r["forward_p90_s"]:.3f})')
    print(f'{"resnet50":<14}{r["resnet50_median_s"]:>10.3f}   (p90 {r["resnet50_p90_s"]:.3f})')
    print(
        f'ratio model / ResNet-50: {r["ratio"]:.2f}x (median of per-pair ratios '
        f'{r["ratio_of_pairs_median"]:.2f}x)'
    )
    if r['batch'] > 1:
        print(
            f'batch {r["batch"]} / batch 1: {r["batch_vs_batch1"]:.2f}x per step '
            f'(batch 1 {r["batch1_median_s"]:.3f} s) -> per frame {r["per_frame_vs_batch1"]:.2f}x'
        )
    if 'official_ratio' in r:
        print(
            f'official AiOS: {r["official_ratio"]:.1f}x ResNet-50 -> speed-up '
            f'{r["speedup_vs_official"]:.1f}x'
        )
    if 'msda' in r:
        m = r['msda']
        print(
            f'MSDA core, {m["queries"]} queries: fast {m["fast_median_s"]:.3f} s, reference '
            f'{m["reference_median_s"]:.3f} s, speed-up {m["speedup"]:.1f}x '
            f'(max |diff| {m["max_abs_diff"]:.1e})'
        )
    if 'bf16_rel_error_vs_fp32' in r:
        print(
            'bf16 relative error vs fp32 (same selected queries/people):',
            json.dumps(r['bf16_rel_error_vs_fp32']),
        )
        print('bf16 vs fp32 with free selection:', json.dumps(r['bf16_free_selection']))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument(
        '--size', type=parse_size, required=True, help='network input HxW, e.g. 800x1333'
    )
    p.add_argument(
        '--dtype',
        choices=('fp32', 'bf16', 'auto'),
        default='fp32',
        help='network precision (auto: what model.dtype auto picks on this machine)',
    )
    p.add_argument('--repeats', type=int, default=5, help='timed runs of each (default 5)')
    p.add_argument('--warmup', type=int, default=1, help='untimed runs first (default 1)')
    p.add_argument('--threads', type=int, default=2, help='torch threads (default 2)')
    p.add_argument('--seed', type=int, default=0, help='weights and input seed')
    p.add_argument(
        '--batch',
        type=int,
        default=1,
        help='images per step, as N same-size cameras of one node (default 1); > 1 also times '
        'batch 1 interleaved',
    )
    p.add_argument(
        '--msda',
        action='store_true',
        help='also time the fast vs reference deformable-attention core (encoder workload)',
    )
    p.add_argument('--json', required=True, help='output JSON path')
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error('--repeats must be >= 1')
    if args.batch < 1:
        p.error('--batch must be >= 1')
    torch.set_num_threads(args.threads)
    result = measure(args.size, args.dtype, args.repeats, args.warmup, args.seed, args.batch)
    if args.msda:
        result['msda'] = measure_msda(args.size, args.repeats, args.seed)
    print_table(result)
    with open(args.json, 'w') as f:
        json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
