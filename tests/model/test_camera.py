"""Camera models: official f = 5000 px projection and the metric (real-K) variant."""

from __future__ import annotations

import torch

from aios_ros.model.camera import FOCAL, cam_to_translation, metric_translation, project


def test_official_translation_and_projection():
    cam = torch.tensor([[0.5, 0.1, -0.2]])
    t = cam_to_translation(cam)
    torch.testing.assert_close(t, torch.tensor([[0.2, -0.4, 2.0]]), rtol=1e-6, atol=1e-6)
    # the body origin projects to 5000 * (tx, ty) + centre of the network input (w=341, h=256)
    uv = project(torch.zeros(1, 1, 3), t, torch.tensor([256, 341]))
    torch.testing.assert_close(uv, torch.tensor([[[FOCAL * 0.1 + 170.5, -FOCAL * 0.2 + 128.0]]]))


def test_metric_translation_equals_official_for_the_equivalent_camera():
    cam = torch.tensor([[0.5, 0.1, -0.2], [0.25, -0.3, 0.05]])
    hw = torch.tensor([256, 341])
    scale = torch.tensor([2.0, 2.0])  # original image is twice the input size
    K = torch.tensor([[FOCAL * 2, 0, 341.0], [0, FOCAL * 2, 256.0], [0, 0, 1]])
    torch.testing.assert_close(metric_translation(cam, K, hw, scale), cam_to_translation(cam))


def test_metric_translation_keeps_image_position_and_size():
    cam = torch.tensor([[0.5, 0.1, -0.2]])
    hw = torch.tensor([256, 341])
    scale = torch.tensor([2.0, 2.0])
    K = torch.tensor([[1000.0, 0, 300.0], [0, 1000.0, 250.0], [0, 0, 1]])
    t = metric_translation(cam, K, hw, scale)
    # depth: one metre spans 5000 * s * 2 px in the original image = fx / z
    torch.testing.assert_close(t[0, 2], torch.tensor(1000.0 / (FOCAL * 0.5 * 2)))
    # the origin projects where the official camera puts it: (5000 * tx + w/2) * 2
    u = K[0, 0] * t[0, 0] / t[0, 2] + K[0, 2]
    v = K[1, 1] * t[0, 1] / t[0, 2] + K[1, 2]
    torch.testing.assert_close(
        torch.stack((u, v)), torch.tensor([(FOCAL * 0.1 + 170.5) * 2, (-FOCAL * 0.2 + 128.0) * 2])
    )
