"""The bundled sample: the scripted scene (sample_scene.py) rendered with the project's overlay
renderer and store it as a rosbag2 (CompressedImage JPEG + CameraInfo) plus a ground-truth .npz.

Output folder layout::

    <out>/metadata.yaml, <out>/sample_bag_0.db3   rosbag2 (sqlite3), readable by ros2 bag / rosbags
    <out>/ground_truth.npz                        aios_ros/evaluation/layout.py layout plus
        pose (P,53,3,3) rotation matrices (AiOS joint order), betas (P,10), expression (P,10),
        transl (P,3) m: the SMPL-X parameters of every row; K (3,3); rate_hz; smplx_num_vertices

Everything is deterministic: same body model -> byte-identical bag and ground truth.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from aios_ros.body.body_model import SmplxBodyModel
from aios_ros.core.types import BodyModel
from aios_ros.evaluation.layout import make_table, save_table
from aios_ros.geometry.boxes import boxes_from_keypoints
from aios_ros.geometry.pinhole import project
from aios_ros.render.overlay import mesh_layer
from aios_ros.synthetic import sample_scene as scene
from aios_ros.synthetic.smplx_model import FULL_NUM_VERTICES, write_synthetic_smplx

IMAGE_TOPIC = '/camera/image_raw/compressed'
INFO_TOPIC = '/camera/camera_info'
FRAME_ID = 'camera_optical_frame'
START_NS = 1_700_000_000 * 1_000_000_000
JPEG_QUALITY = 85


def background() -> np.ndarray:
    """(H, W, 3) uint8 static backdrop: a shaded wall and a checkered floor (0.5 m tiles)."""
    v, u = np.mgrid[0 : scene.HEIGHT, 0 : scene.WIDTH].astype(np.float64)
    cx, cy, f = scene.K[0, 2], scene.K[1, 2], scene.FOCAL_PX
    img = np.empty((scene.HEIGHT, scene.WIDTH, 3))
    img[:] = (170 + 40 * (1 - v / scene.HEIGHT))[..., None] * np.array([1.0, 0.97, 0.92])
    floor = v > cy + 1
    depth = scene.FLOOR_Y_M * f / np.maximum(v - cy, 1e-6)  # z of the floor point, m
    x = (u - cx) * depth / f
    checker = (np.floor(x / 0.5) + np.floor(depth / 0.5)) % 2
    tiles = (110 + 50 * checker)[..., None] * np.array([0.85, 0.95, 1.0])
    fog = np.clip(depth / 25.0, 0.0, 1.0)[..., None]  # hides aliasing near the horizon
    img[floor] = ((1 - fog) * tiles + fog * img)[floor]
    return np.clip(img, 0, 255).astype(np.uint8)


def scene_people(body_model: BodyModel, times_s: np.ndarray) -> dict[str, np.ndarray]:
    """Parameters, joints (T,N,J,3) and vertices (T,N,V,3) of every walker at every time (one
    batched forward pass), feet on the floor. Leading dims: T times x N walkers."""
    states = [scene.walker_state(w, t) for t in times_s for w in scene.WALKERS]
    n = len(states)
    betas = np.zeros((n, 10), np.float32)
    for i in range(n):
        w = scene.WALKERS[i % len(scene.WALKERS)]
        betas[i, : len(w.betas)] = w.betas
    transl = np.array([[xz[0], 0.0, xz[1]] for _, xz in states], np.float32)
    pose, expression = np.stack([p for p, _ in states]), np.zeros((n, 10), np.float32)
    joints, verts = body_model.joints_and_vertices(pose, betas, expression, transl, True)
    # Translation only shifts the mesh: lift every person so the lowest vertex touches the floor.
    lift = (scene.FLOOR_Y_M - verts[:, :, 1].max(axis=1)).astype(np.float32)
    transl[:, 1] += lift
    up = lift[:, None, None] * np.array([0, 1, 0], np.float32)
    shape = (len(times_s), len(scene.WALKERS))
    out = dict(
        pose=pose,
        betas=betas,
        expression=expression,
        transl=transl,
        joints=joints + up,
        vertices=verts + up,
    )
    return {k: v.astype(np.float32).reshape(shape + v.shape[1:]) for k, v in out.items()}


def render_frame(backdrop: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """The backdrop with every person's mesh drawn opaque in its clothing colour."""
    colors = np.array([w.color for w in scene.WALKERS])
    layer = mesh_layer(backdrop.shape[:2], vertices, scene.K, faces, colors)
    mask = layer.any(axis=2)
    out = backdrop.copy()
    out[mask] = layer[mask]
    return out


def write_sample(
    out: str | Path, body_model: BodyModel, frames: int | None = None
) -> dict[str, int]:
    """Write the bag and ground truth into the new folder ``out`` (``frames``: only the first
    frames of the clip, for tests); the ground truth is written last. Returns a small summary."""
    out = Path(out)
    if out.exists():
        raise FileExistsError(f'{out} exists; remove it to regenerate the sample')
    store = get_typestore(Stores.ROS2_KILTED)
    backdrop, faces = background(), np.asarray(body_model.faces)
    rows: dict[str, list] = {
        k: []
        for k in (
            'frame',
            'track_id',
            'pose',
            'betas',
            'expression',
            'transl',
            'joints',
            'vertices',
        )
    }
    count = scene.num_frames() if frames is None else min(frames, scene.num_frames())
    stamps = START_NS + (np.arange(count) * 1e9 / scene.RATE_HZ).astype(np.int64)
    with Writer(out, version=9, storage_plugin=StoragePlugin.SQLITE3) as writer:
        img_conn = writer.add_connection(
            IMAGE_TOPIC, 'sensor_msgs/msg/CompressedImage', typestore=store
        )
        info_conn = writer.add_connection(INFO_TOPIC, 'sensor_msgs/msg/CameraInfo', typestore=store)
        people = scene_people(body_model, (stamps - START_NS) * 1e-9)
        for f, t_ns in enumerate(stamps):
            image = render_frame(backdrop, people['vertices'][f], faces)
            header = _header(store, int(t_ns))
            ok, jpg = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            msg = store.types['sensor_msgs/msg/CompressedImage'](
                header=header, format='jpeg', data=np.frombuffer(jpg.tobytes(), np.uint8)
            )
            writer.write(
                info_conn,
                int(t_ns),
                store.serialize_cdr(_camera_info(store, header), 'sensor_msgs/msg/CameraInfo'),
            )
            writer.write(img_conn, int(t_ns), store.serialize_cdr(msg, msg.__msgtype__))
            for i, walker in enumerate(scene.WALKERS):
                rows['frame'].append(f)
                rows['track_id'].append(walker.track_id)
                for key in ('pose', 'betas', 'expression', 'transl', 'joints', 'vertices'):
                    rows[key].append(people[key][f, i])
    _save_ground_truth(out / 'ground_truth.npz', stamps, rows)
    return {
        'frames': len(stamps),
        'people': len(scene.WALKERS),
        'bag_bytes': sum(p.stat().st_size for p in out.iterdir() if p.suffix != '.npz'),
    }


def _save_ground_truth(path: Path, stamps: np.ndarray, rows: dict[str, list]) -> None:
    joints, verts = np.stack(rows['joints']), np.stack(rows['vertices'])
    boxes = boxes_from_keypoints(project(verts.astype(np.float64), scene.K))
    table = make_table(
        stamps,
        rows['frame'],
        rows['track_id'],
        project(joints.astype(np.float64), scene.K),
        joints,
        boxes,
        verts,
    )
    table.keypoints_2d = table.keypoints_2d.astype(np.float32)
    table.joints_3d, table.vertices = joints, verts
    save_table(
        path,
        table,
        pose=np.stack(rows['pose']),
        betas=np.stack(rows['betas']),
        expression=np.stack(rows['expression']),
        transl=np.stack(rows['transl']),
        K=scene.K,
        rate_hz=np.float64(scene.RATE_HZ),
        smplx_num_vertices=np.int64(verts.shape[1]),
    )


def _header(store, t_ns: int):
    time = store.types['builtin_interfaces/msg/Time'](sec=t_ns // 10**9, nanosec=t_ns % 10**9)
    return store.types['std_msgs/msg/Header'](stamp=time, frame_id=FRAME_ID)


def _camera_info(store, header):
    roi = store.types['sensor_msgs/msg/RegionOfInterest'](
        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
    )
    p = np.zeros((3, 4))
    p[:, :3] = scene.K
    return store.types['sensor_msgs/msg/CameraInfo'](
        header=header,
        height=scene.HEIGHT,
        width=scene.WIDTH,
        distortion_model='plumb_bob',
        d=np.zeros(5),
        k=scene.K.reshape(-1),
        r=np.eye(3).reshape(-1),
        p=p.reshape(-1),
        binning_x=0,
        binning_y=0,
        roi=roi,
    )


DEFAULT_OUT = Path(__file__).resolve().parents[2] / 'data' / 'sample_bag'


def sample_body_model() -> SmplxBodyModel:
    """The synthetic body the sample is posed with (written to a temporary folder, loaded)."""
    with tempfile.TemporaryDirectory() as tmp:
        return SmplxBodyModel.from_smplx_folder(
            write_synthetic_smplx(tmp, FULL_NUM_VERTICES, seed=0)
        )


def ensure_sample(out: Path = DEFAULT_OUT, force: bool = False) -> Path:
    """Generate the sample into ``out`` unless a complete one is already there."""
    if force and out.exists():
        shutil.rmtree(out)
    if (out / 'ground_truth.npz').is_file():  # written last: the sample is complete
        return out
    if out.exists():
        shutil.rmtree(out)  # an interrupted earlier attempt
    t0 = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    info = write_sample(out, sample_body_model())
    print(
        f'generated sample {out}: {info["frames"]} frames, {info["people"]} people, '
        f'bag {info["bag_bytes"] / 1e6:.1f} MB, {time.perf_counter() - t0:.1f} s'
    )
    return out
