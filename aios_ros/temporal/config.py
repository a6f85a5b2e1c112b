"""Configuration of the temporal stage: the ``tracker:``, ``fusion:`` and ``filters:`` sections
of ``config/camera.yaml`` (read with the rest of the file by :mod:`aios_ros.app.settings`).

Times are seconds (taken from frame stamps), distances metres, angles radians, frequencies Hz.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from aios_ros.core.config import param


@dataclass(frozen=True)
class TrackerConfig:
    """ByteTrack-style association with 3D, shape and token cues (docs/temporal.md §2)."""

    high_score: float = param(0.5, 'stage 1 uses people at or above this score')
    low_score: float = param(0.1, 'stage 2 uses candidates in [low_score, high_score)')
    new_track_score: float = param(0.6, 'a new identity needs at least this score')
    n_init: int = param(3, 'matched frames before TENTATIVE -> CONFIRMED')
    coast_s: float = param(
        0.2,
        "unmatched up to this long: predicted box trusted; a longer gap resets the identity's "
        'buffer and filters on re-match',
    )
    max_age_s: float = param(1.0, 'unmatched longer than this: deleted, moved to the gallery')
    gallery_s: float = param(10.0, 'how long deleted tracks stay available for re-identification')
    w_iou: float = param(0.5, 'cost weight of 1 - IoU(predicted box, detected box)')
    w_3d: float = param(0.3, 'cost weight of min(1, Mahalanobis 3D distance / gate_sigma)')
    w_app: float = param(0.2, "cost weight of (1 - cos(track token embedding, det's)) / 2")
    w_shape: float = param(0.3, 'cost weight of min(1, |betas mean - betas| / shape_scale)')
    gate_sigma: float = param(5.5, 'Mahalanobis 3D distance beyond which pairs are never matched')
    d0_m: float = param(1.0, 'gallery re-id: 3D radius right after deletion, metres')
    speed_mps: float = param(2.0, 'gallery re-id: radius grows by this speed times the time lost')
    shape_scale: float = param(3.0, 'betas L2 distance that saturates the shape cost and gates')
    match_cost: float = param(0.8, 'stage 1 accepts pairs below this cost')
    low_cost: float = param(0.5, 'stage 2 (low-score candidates) accepts costs below this')
    tentative_cost: float = param(0.7, 'stage 3 (tentative tracks) accepts costs below this')
    reid_cost: float = param(0.5, 're-identification (betas, tokens) accepts costs below this')
    switch_cut_ratio: float = param(
        0.8,
        'a match costing more than this times its stage threshold is a suspected identity '
        'switch: buffer and filters restart',
    )
    appearance_momentum: float = param(0.9, 'EMA of the L2-normalised body-box token')
    betas_tau_s: float = param(2.0, 'time constant of the per-track (score-weighted) betas mean')
    sigma_accel: float = param(3.0, 'Kalman white-acceleration noise, m/s^2 (box: per 1.7 m)')
    sigma_xy_m: float = param(0.03, 'translation measurement noise in x, y')
    sigma_z_rel: float = param(0.017, 'depth measurement noise = sigma_z_rel * z^2 (metres)')
    publish_tentative: bool = param(False, 'output TENTATIVE tracks too (state says so)')

    def __post_init__(self) -> None:
        if not 0.0 <= self.low_score <= self.high_score <= self.new_track_score <= 1.0:
            raise ValueError('need 0 <= low_score <= high_score <= new_track_score <= 1')
        if self.n_init < 1:
            raise ValueError('n_init must be >= 1')
        if not 0.0 < self.coast_s <= self.max_age_s:
            raise ValueError('need 0 < coast_s <= max_age_s')
        if not 0.0 < self.switch_cut_ratio <= 1.0:
            raise ValueError('switch_cut_ratio must be in (0, 1] (1: never cut)')


@dataclass(frozen=True)
class FusionConfig:
    """Similarity- and recency-weighted averaging (docs/temporal.md §4)."""

    mode: Literal['params', 'tokens', 'off'] = param(
        'params',
        'params: SO(3) chordal mean of the pose parameters; tokens: re-regress the '
        'fused decoder tokens (unvalidated with trained heads); off: the raw parameters',
    )
    lag_frames: int = param(2, 'fused stream target = this many frames back (0..4)')
    history_s: float = param(0.07, 'window reaches this far before the target stamp (~lag)')
    sigma_s: float = param(0.05, 'Gaussian recency prior on |t_j - t_target|')
    tau: float = param(0.3, 'similarity temperature: weight *= exp((s - 1) / tau)')
    s_min: float = param(-1.0, 'entries less similar than this are ignored')
    blend: float = param(1.0, 'residual blend lambda: (1 - lambda) target + lambda mean')
    hand_sigma_s: float = param(0.05, 'hands and face are fused over a shorter time prior')
    orient_sigma_s: float = param(0.05, 'global orientation: time prior only (no turning lag)')
    guard_angle_rad: float = param(0.785, 'fused vs raw major-joint angle above this -> fall back')
    buffer_capacity: int = param(32, 'ring-buffer entries per identity (memory bound)')
    buffer_horizon_s: float = param(1.0, 'entries older than this are dropped')
    fill_gap_frames: int = param(
        2,
        'an identity missing for up to this many frames is interpolated into them in the fused '
        'stream (0: off; at most lag_frames)',
    )

    def __post_init__(self) -> None:
        if not 0 <= self.lag_frames <= 4:
            raise ValueError('lag_frames must be in 0..4')
        if min(self.sigma_s, self.hand_sigma_s, self.orient_sigma_s, self.tau) <= 0:
            raise ValueError('sigma_s, hand_sigma_s, orient_sigma_s and tau must be > 0')
        if not 0.0 <= self.blend <= 1.0:
            raise ValueError('blend must be in [0, 1]')
        if not 0 <= self.fill_gap_frames <= 4:
            raise ValueError('fill_gap_frames must be in 0..4')
        if not -1.0 <= self.s_min <= 1.0:
            raise ValueError('s_min must be in [-1, 1] (it bounds a cosine similarity)')
        if self.buffer_capacity < 2 * (self.lag_frames + 1):
            raise ValueError('buffer_capacity too small for lag_frames')


@dataclass(frozen=True)
class OneEuroConfig:
    """One-Euro filter parameters (Casiez et al. 2012); speeds in rad/s or m/s."""

    min_cutoff: float = param(1.0, 'cutoff frequency at rest (Hz): lower = smoother, more lag')
    beta: float = param(0.3, 'cutoff increase per unit speed (s/rad or s/m): less lag when fast')
    d_cutoff: float = param(1.0, 'cutoff frequency of the speed estimate (Hz)')

    def __post_init__(self) -> None:
        if self.min_cutoff <= 0 or self.d_cutoff <= 0 or self.beta < 0:
            raise ValueError('min_cutoff and d_cutoff must be > 0, beta >= 0')


def _one_euro(min_cutoff: float, beta: float) -> OneEuroConfig:
    return OneEuroConfig(min_cutoff, beta, 1.0)


@dataclass(frozen=True)
class StreamFilterConfig:
    """Causal output filters of the raw stream, per joint group (docs/temporal.md §8.1).

    Defaults are calibrated with ``eval_temporal`` (synthetic and real-motion scenes): they halve
    the per-frame acceleration error and lower MPJPE slightly; lower cutoffs smooth more but lag.
    """

    global_orient: OneEuroConfig = field(default_factory=lambda: _one_euro(16.0, 0.2))
    body: OneEuroConfig = field(default_factory=lambda: _one_euro(16.0, 0.2))
    hands: OneEuroConfig = field(default_factory=lambda: _one_euro(16.0, 0.2))
    jaw: OneEuroConfig = field(default_factory=lambda: _one_euro(16.0, 0.2))


@dataclass(frozen=True)
class FilterConfig:
    """Output filters of the raw stream (lag 0). The fused stream is not filtered: its window
    mean already smooths, and a causal filter after it only added lag (docs/temporal.md §8)."""

    enabled: bool = param(True, 'apply the raw stream filters (off: publish unfiltered poses)')
    raw: StreamFilterConfig = field(default_factory=StreamFilterConfig)


@dataclass(frozen=True)
class TemporalConfig:
    """Everything the temporal stage reads; one attribute per YAML section."""

    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
