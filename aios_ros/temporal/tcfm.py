"""TCFM-lite: a small learned temporal attention over token blocks (TEMPORAL_DESIGN.md 4.4).

Every one of the 39 token slots of a person is fused over the identity's window with the same
weights. For one slot, with Z (K, 256) the slot's tokens of the K window entries and t the target
entry::

    S_j = <z_t, z_j> / sqrt(256)                       raw similarity (STAF's parameter-free part)
    A_j = <W_q z_t + b_q, W_k z_j> / sqrt(128)         learned affinity (a key bias would cancel)
    L_j = a * S_j + b * A_j + r(dt_j)                  a, b learned scalars, r learned time bias
    y   = softmax_j(L), entries masked out: padding, and (causal) entries after the target
    z~_t = z_t + W_o sum_j y_j (W_v z_j + b_v) + b_o    residual, as in STAF's TCFM

W_q, W_k, W_v: 256 -> 128, W_o: 128 -> 256; 131,603 parameters.

The relative-time bias r is a table over the offset dt_j = t_j - t_target expressed in frames at
:data:`NOMINAL_RATE_HZ` (rounded) and clamped to +-:data:`MAX_OFFSET_FRAMES`; it is a function of
time, so at other camera rates it is read at the nearest 30 fps offset. Only the target row of the
attention is computed (the other rows never reach the output), and W_k, W_v act on target-side
vectors only (see :meth:`TcfmLite.forward`). Slots and people are batch axes: windows never mix
(unlike STAF's cat-and-view, STAF_SPEC.md section 5).

The weights come from training (data and losses: TEMPORAL_DESIGN.md 4.4); training is not part of
aios_ros and no weights ship with it. Train one model per lag (causal for lag 0).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from aios_ros.pipeline.types import TOKEN_DIM

INNER_DIM = 128
NOMINAL_RATE_HZ = 30.0
MAX_OFFSET_FRAMES = 8
_TRAINING_NOTE = ('TCFM-lite weights come from training (TEMPORAL_DESIGN.md section 4.4 lists the '
                  'data and losses); aios_ros ships none')


class TcfmLite(nn.Module):
    """Slot-wise temporal attention with a residual output (131,603 parameters).

    A new module has W_o = 0, so it starts as the identity (the target tokens pass unchanged).
    """

    def __init__(self) -> None:
        super().__init__()
        self.query = nn.Linear(TOKEN_DIM, INNER_DIM)
        self.key = nn.Linear(TOKEN_DIM, INNER_DIM, bias=False)  # a key bias cancels in softmax
        self.value = nn.Linear(TOKEN_DIM, INNER_DIM)
        self.out = nn.Linear(INNER_DIM, TOKEN_DIM)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.raw_weight = nn.Parameter(torch.tensor(1.0))       # a
        self.learned_weight = nn.Parameter(torch.tensor(1.0))   # b
        self.time_bias = nn.Parameter(torch.zeros(2 * MAX_OFFSET_FRAMES + 1))  # r, index 0 = -8

    def forward(self, tokens: torch.Tensor, dt_s: torch.Tensor, target: torch.Tensor,
                valid: torch.Tensor, causal: bool) -> torch.Tensor:
        """Fused token blocks of the target entries.

        Parameters
        ----------
        tokens : (N, K, 39, 256) float32, N windows of K entries (padded windows allowed).
        dt_s : (N, K) entry stamp minus target stamp, seconds.
        target : (N,) int64, row of the target entry in each window.
        valid : (N, K) bool, False for padding. The target entry must be valid.
        causal : mask the entries after the target row (windows are in stamp order); use it
            for lag-0 streams.

        Returns
        -------
        (N, 39, 256) float32 fused token block of each target.
        """
        z_t = tokens[torch.arange(len(tokens)), target]                   # (N, 39, 256)
        slots = tokens.transpose(1, 2).contiguous()                       # (N, 39, K, 256)
        # Only target-side vectors are projected: <W_q z_t + b_q, W_k z_j> = <W_k^T (W_q z_t +
        # b_q), z_j>, and sum_j y_j (W_v z_j + b_v) = W_v sum_j y_j z_j + b_v as the y_j sum to
        # 1. Same function, K times fewer projections.
        learned = self.query(z_t) @ self.key.weight                       # (N, 39, 256)
        probe = (self.raw_weight / math.sqrt(TOKEN_DIM)) * z_t \
            + (self.learned_weight / math.sqrt(INNER_DIM)) * learned
        offset = torch.round(dt_s * NOMINAL_RATE_HZ).clamp(-MAX_OFFSET_FRAMES, MAX_OFFSET_FRAMES)
        bias = self.time_bias[offset.long() + MAX_OFFSET_FRAMES]           # (N, K)
        logits = (slots * probe[:, :, None]).sum(-1) + bias[:, None]        # (N, 39, K)
        keep = valid & (torch.arange(tokens.shape[1]) <= target[:, None]) if causal else valid
        y = torch.softmax(logits.masked_fill(~keep[:, None], -torch.inf), dim=-1)
        mixed = (y[:, :, None] @ slots).squeeze(2)                          # (N, 39, 256)
        return z_t + self.out(self.value(mixed))

    @torch.no_grad()
    def fuse(self, tokens: np.ndarray, dt_s: np.ndarray, target: np.ndarray, valid: np.ndarray,
             causal: bool) -> np.ndarray:
        """:meth:`forward` on numpy arrays (any float dtype), CPU float32, no autograd."""
        out = self(torch.from_numpy(np.asarray(tokens)).float(),  # torch converts fp16 fast
                   torch.from_numpy(np.asarray(dt_s, np.float64)),
                   torch.from_numpy(np.asarray(target, np.int64)),
                   torch.from_numpy(np.asarray(valid, bool)), causal)
        return out.numpy()


def load_tcfm(path: str | Path) -> TcfmLite:
    """TcfmLite in eval mode with the state_dict saved (``torch.save``) at ``path``.

    Raises FileNotFoundError or ValueError naming the file and the problem (not a file, not a
    state_dict, missing/unexpected keys, wrong shapes, non-finite values).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'fusion.tcfm_weights: no file {str(path)!r}. {_TRAINING_NOTE}; '
                                f'give the path of a trained TcfmLite state_dict (torch.save).')
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # torch raises many kinds for foreign or corrupt files
        raise ValueError(f'fusion.tcfm_weights {str(path)!r} is not a torch state_dict file '
                         f'({type(err).__name__}). {_TRAINING_NOTE}.') from err
    module = TcfmLite()
    problem = _state_dict_problem(state, module.state_dict())
    if problem:
        raise ValueError(f'fusion.tcfm_weights {str(path)!r} is not a TcfmLite state_dict: '
                         f'{problem}. {_TRAINING_NOTE}.')
    module.load_state_dict(state, strict=True)  # copies into the float32 parameters
    return module.eval()


def _state_dict_problem(state: object, expected: Mapping[str, torch.Tensor]) -> str:
    """What is wrong with ``state`` as a state_dict for ``expected``'s keys and shapes ('' = ok)."""
    if not isinstance(state, Mapping):
        return f'it holds a {type(state).__name__}, not a mapping of tensors'
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        return f'missing keys {missing}, unexpected keys {extra}'
    for key, ref in expected.items():
        value = state[key]
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            return f'{key} is not a floating-point tensor'
        if value.shape != ref.shape:
            return f'{key} has shape {tuple(value.shape)}, expected {tuple(ref.shape)}'
        if not bool(torch.isfinite(value).all()):
            return f'{key} has non-finite values'
    return ''
