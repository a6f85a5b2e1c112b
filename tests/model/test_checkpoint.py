"""Checkpoint reading and strict loading: accepted layouts and the errors users see."""

from __future__ import annotations

import argparse

import pytest
import torch
from torch import nn

from aios_ros.model.checkpoint import CheckpointError, load_strict, read_checkpoint
from aios_ros.model.config import ModelConfig
from aios_ros.model.estimator import build_model


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 2)
        self.b = nn.Linear(2, 1)


def test_training_checkpoint_with_namespace_and_module_prefix(tmp_path):
    sd = {f'module.{k}': v + 1 for k, v in Tiny().state_dict().items()}
    path = tmp_path / 'ckpt.pth'
    torch.save({'model': sd, 'args': argparse.Namespace(lr=1e-4), 'epoch': 3}, path)
    loaded = read_checkpoint(path)
    assert set(loaded) == {'a.weight', 'a.bias', 'b.weight', 'b.bias'}
    model = Tiny()
    load_strict(model, loaded, str(path))
    assert torch.equal(model.a.bias, sd['module.a.bias'])


def test_bare_state_dict(tmp_path):
    path = tmp_path / 'bare.pth'
    torch.save(Tiny().state_dict(), path)
    load_strict(Tiny(), read_checkpoint(path), str(path))


def test_missing_file_says_where_to_get_it(tmp_path):
    with pytest.raises(CheckpointError, match='huggingface.co/ttxskk/AiOS'):
        read_checkpoint(tmp_path / 'aios_checkpoint.pth')


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / 'x.pth'
    torch.save({'epoch': 3}, path)
    with pytest.raises(CheckpointError, match='neither a state_dict'):
        read_checkpoint(path)


def test_mismatch_lists_first_offending_keys():
    sd = Tiny().state_dict()
    sd.pop('b.bias')
    sd['a.weight'] = torch.zeros(5, 3)
    sd['extra.weight'] = torch.zeros(1)
    with pytest.raises(CheckpointError) as info:
        load_strict(Tiny(), sd, 'my.pth')
    text = str(info.value)
    assert '1 missing: b.bias' in text and '1 unexpected: extra.weight' in text
    assert 'a.weight (5, 3) != (2, 3)' in text and 'aios_checkpoint.pth' in text


def test_wrong_checkpoint_for_aios(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save({'model': Tiny().state_dict()}, path)
    with pytest.raises(CheckpointError, match='body_model'):
        build_model(ModelConfig(checkpoint=str(path)))
