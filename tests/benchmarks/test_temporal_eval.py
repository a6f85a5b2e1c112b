"""The evaluation CLI end to end on a tiny sequence (interface and JSON layout)."""

import json

from benchmarks.temporal_eval import METRICS, main


def test_cli_writes_medians_per_stream(tmp_path, smplx_dir, capsys):
    out = tmp_path / 'eval.json'
    assert (
        main(
            [
                '--seeds',
                '0',
                '--json',
                str(out),
                '--people',
                '2',
                '--duration',
                '2',
                '--smplx',
                str(smplx_dir),
            ]
        )
        == 0
    )
    doc = json.loads(out.read_text())
    assert set(doc['streams']) == {'input', 'raw', 'fused'}
    for stream in doc['streams'].values():
        assert set(stream) == set(METRICS)
    assert doc['streams']['input']['idf1'] is None and doc['streams']['fused']['idf1'] is not None
    assert [s['seed'] for s in doc['seeds']] == [0]
    assert 'fused' in capsys.readouterr().out


def test_cli_rejects_bad_seeds(tmp_path, capsys):
    assert main(['--seeds', 'one,two', '--json', str(tmp_path / 'x.json')]) == 2
    assert 'error' in capsys.readouterr().err
