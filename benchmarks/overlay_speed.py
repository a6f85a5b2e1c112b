"""Overlay render time at 640 x 480 on the sample's three people (median of repeats).

    python -m aios_ros.tools.bench_overlay [--repeats 20]

Prints milliseconds per frame for the decimated mesh the node and replay draw
(node.markers.mesh_faces, default 2000 triangles per person) and for the full mesh.
"""

from __future__ import annotations

import argparse
import time
from typing import Optional, Sequence

import numpy as np

from aios_ros.app.settings import NodeConfig
from aios_ros.core.types import Bodies, Camera, IntrinsicsSource
from aios_ros.geometry.pinhole import project
from aios_ros.render.display_geometry import display_geometry
from aios_ros.render.overlay import render_overlay
from aios_ros.synthetic import sample_bag as generate
from aios_ros.synthetic import sample_scene as scene
from aios_ros.synthetic.sample_bag import sample_body_model


def sample_bodies(body_model) -> Bodies:
    """The three walkers at t = 5 s (track ids 1..3) as estimator output would hold them."""
    people = {k: v[0] for k, v in generate.scene_people(body_model, np.array([5.0])).items()}
    n = len(people['pose'])
    return Bodies(
        scores=np.ones(n, np.float32),
        boxes=np.zeros((n, 4, 4), np.float32),
        pose=people['pose'],
        betas=people['betas'],
        expression=people['expression'],
        transl=people['transl'],
        keypoints_2d=project(people['joints'], scene.K).astype(np.float32),
        joints_3d=people['joints'],
        vertices=people['vertices'],
        track_ids=np.arange(1, n + 1),
        track_states=np.full(n, 2, np.uint8),
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog='bench_overlay', description=__doc__.split('\n\n')[0])
    p.add_argument('--repeats', type=int, default=20)
    a = p.parse_args(argv)
    body_model = sample_body_model()
    bodies = sample_bodies(body_model)
    image = generate.background()
    camera = Camera(scene.K, scene.WIDTH, scene.HEIGHT, IntrinsicsSource.CAMERA_INFO)
    target = NodeConfig().markers.mesh_faces
    parents, decimated = display_geometry(body_model, target)
    for name, faces in (
        (f'decimated ({target} faces/person)', decimated),
        (f'full ({len(body_model.faces)} faces/person)', body_model.faces),
    ):
        times = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            render_overlay(image, bodies, camera, faces, parents)
            times.append(time.perf_counter() - t0)
        print(
            f'overlay 640x480, 3 people, {name}: median {np.median(times) * 1e3:.1f} ms, '
            f'min {np.min(times) * 1e3:.1f} ms'
        )
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
