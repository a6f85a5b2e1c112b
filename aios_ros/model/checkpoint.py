"""Loading the official AiOS checkpoint (user-supplied; never downloaded at run time).

Accepted files: the training checkpoint ``{'model': state_dict, 'optimizer', ..., 'args':
argparse.Namespace, 'ema_model'}`` (only ``model`` is used, as by the official inference) or a bare
state_dict; a ``module.`` prefix (DataParallel) is stripped. Loading is strict: any missing,
unexpected or mis-shaped entry is reported with the first offending names.
"""

from __future__ import annotations

import argparse
import logging
import pickle
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

LOG = logging.getLogger(__name__)
CHECKPOINT_HINT = (
    'Download the official AiOS checkpoint "aios_checkpoint.pth" from Hugging Face '
    '(https://huggingface.co/ttxskk/AiOS) and pass its path as model.checkpoint.'
)
_SHOW = 5


class CheckpointError(RuntimeError):
    """The checkpoint file is missing, unreadable or does not match the AiOS model."""


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The model state_dict stored in ``path`` (on CPU, ``module.`` prefixes removed)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f'checkpoint not found: {path}. {CHECKPOINT_HINT}')
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError:
        # Other python objects inside (e.g. optimizer extras): a full unpickle executes code from
        # the file, acceptable only because the user chose this file as their trusted checkpoint.
        LOG.warning('%s holds non-tensor objects; loading it with weights_only=False', path)
        try:
            obj = torch.load(path, map_location='cpu', weights_only=False)
        except Exception as exc:
            raise CheckpointError(
                f'cannot read checkpoint {path}: {exc}. {CHECKPOINT_HINT}'
            ) from exc
    except Exception as exc:
        raise CheckpointError(f'cannot read checkpoint {path}: {exc}. {CHECKPOINT_HINT}') from exc
    return _state_dict_of(obj, path)


def _state_dict_of(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping) and isinstance(obj.get('model'), Mapping):
        obj = obj['model']
    if not isinstance(obj, Mapping) or not obj or not all(torch.is_tensor(v) for v in obj.values()):
        keys = list(obj)[:_SHOW] if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(
            f'{path} holds neither a state_dict nor a {{"model": state_dict}} '
            f'checkpoint (found {keys}). {CHECKPOINT_HINT}'
        )
    return {k[len('module.') :] if k.startswith('module.') else k: v for k, v in obj.items()}


def load_strict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """``model.load_state_dict(state_dict, strict=True)`` with a readable error on mismatch."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mis_shaped = [
        f'{k} {tuple(state_dict[k].shape)} != {tuple(v.shape)}'
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    if missing or unexpected or mis_shaped:
        lines = [f'{source} does not match the AiOS model ({len(expected)} entries expected):']
        for label, names in (
            ('missing', missing),
            ('unexpected', unexpected),
            ('wrong shape', mis_shaped),
        ):
            if names:
                more = f' ... (+{len(names) - _SHOW} more)' if len(names) > _SHOW else ''
                lines.append(f'  {len(names)} {label}: {", ".join(names[:_SHOW])}{more}')
        lines.append(CHECKPOINT_HINT)
        raise CheckpointError('\n'.join(lines))
    model.load_state_dict(state_dict, strict=True)
