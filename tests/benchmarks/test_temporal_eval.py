"""The evaluation CLI end to end on tiny sequences (interface and JSON layout)."""

import json

import pytest

from benchmarks.temporal_eval import DEFAULT_MOTION, METRICS, main


def _run(tmp_path, smplx_dir, *extra):
    out = tmp_path / 'eval.json'
    argv = ['--seeds', '0', '--json', str(out), '--people', '2', '--duration', '2']
    assert main(argv + ['--smplx', str(smplx_dir), *extra]) == 0
    return json.loads(out.read_text())


def _check_doc(doc, scenes):
    assert doc['scenes'] == scenes
    assert set(doc['streams']) == {'input', 'raw', 'fused'}
    for stream in doc['streams'].values():
        assert set(stream) == set(METRICS)
    assert doc['streams']['input']['idf1'] is None and doc['streams']['fused']['idf1'] is not None
    assert doc['streams']['input']['mpjpe_x'] is None
    for name in ('raw', 'fused'):
        row, ref = doc['streams'][name], doc['input_on_common'][name]
        # the ratio columns are the stream over the input on the same (common) pairs
        assert row['mpjpe_x'] == pytest.approx(row['mpjpe_mm'] / ref['mpjpe_mm'])
        assert row['pelvis_x'] == pytest.approx(row['pelvis_mm'] / ref['pelvis_mm'])
        assert 0.0 < row['coverage'] <= 1.0
    assert [s['seed'] for s in doc['seeds']] == [0]


def test_cli_writes_medians_per_stream(tmp_path, smplx_dir, capsys):
    _check_doc(_run(tmp_path, smplx_dir), 'synthetic')
    out = capsys.readouterr().out
    assert 'fused' in out and 'input|fused' in out and 'scenes' not in out


@pytest.mark.skipif(not DEFAULT_MOTION.is_dir(), reason=f'no motion clips in {DEFAULT_MOTION}')
def test_cli_real_and_both_scenes(tmp_path, smplx_dir, capsys):
    _check_doc(_run(tmp_path, smplx_dir, '--scenes', 'real'), 'real')
    both = _run(tmp_path, smplx_dir, '--scenes', 'both')
    assert set(both) == {'synthetic', 'real'}
    _check_doc(both['synthetic'], 'synthetic')
    _check_doc(both['real'], 'real')
    out = capsys.readouterr().out
    assert 'synthetic scenes' in out and 'real scenes' in out


def test_cli_rejects_bad_seeds(tmp_path, capsys):
    assert main(['--seeds', 'one,two', '--json', str(tmp_path / 'x.json')]) == 2
    assert 'error' in capsys.readouterr().err


def test_cli_rejects_a_motion_folder_without_clips(tmp_path, capsys):
    argv = ['--seeds', '0', '--json', str(tmp_path / 'x.json'), '--scenes', 'real']
    assert main(argv + ['--motion', str(tmp_path)]) == 2
    assert 'no motion clips' in capsys.readouterr().err
