"""Sample pictures: the grid layout is torchvision's make_grid, without importing torchvision at start-up."""
from __future__ import annotations

import ast

import pytest
import torch
from torchvision.utils import make_grid

from gan_runner.generation.grids import REAL_COLOR, image_grid, scatter_image, tile

from conftest import REPO


@pytest.mark.parametrize("n,c,nrow", [(1, 3, 8), (7, 1, 3), (16, 3, 4), (5, 3, 8), (64, 1, 8)])
def test_tile_is_make_grid(n, c, nrow):
    x = torch.randint(0, 256, (n, c, 6, 5), dtype=torch.uint8)
    expected = make_grid(x, nrow=nrow, padding=2, pad_value=255)
    assert torch.equal(tile(x, nrow), expected)


def test_image_grid_maps_minus_one_one_to_uint8():
    x = torch.tensor([-1.0, 1.0]).view(2, 1, 1, 1).expand(2, 1, 2, 2)
    grid = image_grid(x, nrow=2)
    assert grid.dtype == torch.uint8 and grid.shape == (3, 6, 10)
    assert grid[:, 2:4, 2:4].eq(0).all() and grid[:, 2:4, 6:8].eq(255).all() and grid[:, :2].eq(255).all()


def test_no_module_imports_torchvision_at_top_level():
    # `import torchvision` pulls in torch._dynamo (seconds per start); datasets and the FID nets import it when used
    offenders = []
    for path in (REPO / "gan_runner").rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n == "torchvision" or n.startswith("torchvision.") for n in names):
                offenders.append(str(path.relative_to(REPO)))
    assert not offenders, offenders


def test_scatter_axes_come_from_the_data_and_real_points_stay_visible():
    real = torch.tensor([[1.0, 0.0], [0.0, -1.0]])
    on_top = scatter_image(real.clone(), real)  # samples exactly on the modes
    far = scatter_image(torch.full((50, 2), 30.0), real)  # a generator gone astray: same axes, the modes unmoved
    for img in (on_top, far):
        assert img.shape == (3, 256, 256) and img.dtype == torch.uint8
        dark = (img == torch.tensor(REAL_COLOR).view(3, 1, 1)).all(0)
        assert dark.sum() == 2  # both real points, drawn over the samples
    assert torch.equal((on_top == torch.tensor(REAL_COLOR).view(3, 1, 1)).all(0), dark)
