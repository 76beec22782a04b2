"""Feature-map maths: channel ranking, content cells, un-letterboxing, heatmaps, PCA-RGB, folder names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from yololens.jobs.maps import image_folders
from yololens.engine.mapmath import (channel_heatmap, content_cells, crop_content, pca_rgb, rank_channels,
                                       robust_unit, to_original)
from yololens.model import ultra
from yololens.model.ultra import LetterboxInfo
from yololens.sources.records import ImageRecord


def _ranking_tensor() -> np.ndarray:
    """4 channels on a 4x4 map with known statistics.

    c0: constant 3        -> energy 9,   variance 0
    c1: checkerboard +-2  -> energy 4,   variance 4
    c2: zeros             -> energy 0,   variance 0
    c3: half 0 / half 4   -> energy 8,   variance 4 (ties c1 on variance)
    """
    x = np.zeros((4, 4, 4), np.float32)
    x[0] = 3
    x[1] = np.where((np.arange(4)[:, None] + np.arange(4)[None]) % 2, 2, -2)
    x[3, :2] = 4
    return x


def test_rank_energy_orders_by_mean_of_squares():
    order, scores = rank_channels(_ranking_tensor(), "energy")
    assert order.tolist() == [0, 3, 1, 2]
    np.testing.assert_allclose(scores, [9, 8, 4, 0])


def test_rank_variance_orders_by_spatial_variance_ties_by_index():
    order, scores = rank_channels(_ranking_tensor(), "variance")
    assert order.tolist() == [1, 3, 0, 2]
    np.testing.assert_allclose(scores, [4, 4, 0, 0])


def test_rank_index_keeps_channel_order_and_k_truncates():
    order, scores = rank_channels(_ranking_tensor(), "index", k=2)
    assert order.tolist() == [0, 1]
    np.testing.assert_allclose(scores, [9, 4])  # energies, for reference
    assert rank_channels(_ranking_tensor(), "energy", k=10)[0].tolist() == [0, 3, 1, 2]
    with pytest.raises(ValueError, match="energy, variance, index"):
        rank_channels(_ranking_tensor(), "bogus")


def test_heatmaps_mean_and_energy():
    x = _ranking_tensor()
    np.testing.assert_allclose(channel_heatmap(x, "mean"), x.mean(0))
    np.testing.assert_allclose(channel_heatmap(x, "energy"), (x**2).mean(0))


def test_content_cells_drop_padding():
    # 810x1080 portrait (bus.jpg) in a 640x640 square: 80 px pad left and right
    info = LetterboxInfo.compute((640, 640), (1080, 810))
    assert info.pad == (80, 0)
    assert content_cells(info, (80, 80)).cols == (10, 70)  # stride 8: 80/8 .. 560/8
    assert content_cells(info, (80, 80)).rows == (0, 80)
    # stride 32: pad is 2.5 cells; cells 2..17 have their centres inside [80, 560]
    cells = content_cells(info, (20, 20))
    assert cells.cols == (2, 18) and cells.cell == (32.0, 32.0)
    assert crop_content(np.zeros((3, 20, 20)), cells).shape == (3, 20, 16)


def test_to_original_matches_ultralytics_scale_masks_when_pad_is_whole_cells():
    # 64x32 original in a 64x64 input: 16 px pad top and bottom = 2 cells at stride 8
    info = LetterboxInfo.compute((64, 64), (32, 64))
    fm = np.random.default_rng(0).normal(size=(8, 8)).astype(np.float32)
    cells = content_cells(info, fm.shape)
    assert cells.rows == (2, 6) and cells.cols == (0, 8)
    ours = to_original(fm[cells.slices], info, cells)
    theirs = ultra.scale_masks(torch.from_numpy(fm)[None, None], (32, 64))[0, 0].numpy()
    assert ours.shape == (32, 64)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_to_original_puts_a_hot_cell_over_its_image_pixels():
    info = LetterboxInfo.compute((640, 640), (1080, 810))  # gain 0.593, pad_x 80
    fm = np.zeros((20, 20), np.float32)
    fm[5, 10] = 1.0  # letterboxed x 320..352, y 160..192
    cells = content_cells(info, fm.shape)
    out = to_original(fm[cells.slices], info, cells)
    assert out.shape == (1080, 810)
    y, x = np.unravel_index(np.argmax(out), out.shape)
    (gy, gx), (px, py) = info.gain, info.pad
    assert 160 <= y * gy + py <= 192 and 320 <= x * gx + px <= 352
    rgb = to_original(np.stack([fm[cells.slices]] * 3, -1), info, cells)
    assert rgb.shape == (1080, 810, 3)
    np.testing.assert_allclose(rgb[..., 1], out)


def test_robust_unit_scales_to_unit_range_and_flat_is_half():
    x = np.arange(101, dtype=np.float32)
    u = robust_unit(x)
    assert u.min() == 0 and u.max() == 1 and u[50] == pytest.approx(0.5)
    assert np.all(robust_unit(np.full(5, 7.0)) == 0.5)


def test_pca_rgb_finds_the_dominant_direction():
    rng = np.random.default_rng(0)
    h, w = 12, 16
    ramp = np.tile(np.linspace(-1, 1, w), (h, 1))  # strong left-right gradient in channels 0 and 1
    x = np.stack([10 * ramp, 10 * ramp] + [0.1 * rng.normal(size=(h, w)) for _ in range(6)]).astype(np.float32)
    rgb, ratios = pca_rgb(x)
    assert rgb.shape == (h, w, 3) and rgb.min() >= 0 and rgb.max() <= 1
    assert ratios[0] > 0.95 and ratios == sorted(ratios, reverse=True)
    red = rgb[..., 0].mean(axis=0)  # component 1 follows the ramp (either sign)
    assert abs(np.corrcoef(red, np.linspace(-1, 1, w))[0, 1]) > 0.99


def test_pca_rgb_flat_and_narrow_maps():
    rgb, ratios = pca_rgb(np.ones((5, 4, 4), np.float32))
    assert np.all(rgb == 0) and ratios == [0, 0, 0]
    rgb, ratios = pca_rgb(np.random.default_rng(1).normal(size=(2, 4, 4)).astype(np.float32))
    assert np.all(rgb[..., 2] == 0) and ratios[2] == 0 and sum(ratios) == pytest.approx(1)


def test_image_folders_are_unique_deterministic_and_case_insensitive():
    names = ["a/bus.jpg", "b/bus.jpg", "bus_1.jpg", "A/BUS.jpg", "zidane.jpg", "zidane.jpg"]
    records = [ImageRecord(i, Path(n), n) for i, n in enumerate(names)]
    folders = image_folders(records)
    got = [folders[i] for i in range(6)]
    assert got[:3] == ["a__bus_jpg", "b__bus_jpg", "bus_1_jpg"] and got[4] == "zidane_jpg"
    assert got[3].startswith("A__BUS_jpg~") and got[5] not in got[:5]  # case-insensitive repeats, a repeated name
    assert len({g.lower() for g in got}) == 6
    assert image_folders(records) == folders
