"""Small model factories for the outside-encoder tests (``python:_outside_models:<factory>``).

A module of its own (not a test file) so that a job can import it by name, as a user's
factory would be imported (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def small_cnn() -> nn.Module:
    """Maps at stride 2 (``features.0``), stride 4 (``features``), a vector (``pool``)."""
    torch.manual_seed(0)  # fixed init: the weights file decides the numbers anyway
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 6, 3, 2, 1), nn.ReLU(), nn.Conv2d(6, 10, 3, 2, 1), nn.ReLU()),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(10, 4),
    )


class _Tokens(nn.Module):
    """A ViT-like stem: 4×4 patches → tokens (N, 1 + L, D) with a class token first."""

    def __init__(self, dim: int = 12) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, dim, 4, 4)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.Identity()
        self.head = nn.Linear(dim, 2)

    def forward(self, x: Tensor) -> Tensor:
        t = self.patch(x).flatten(2).transpose(1, 2)  # (N, L, D)
        t = self.blocks(torch.cat([self.cls.expand(len(t), -1, -1), t], dim=1))
        return self.head(t[:, 0])


def token_net() -> nn.Module:
    torch.manual_seed(0)
    return _Tokens()


def not_a_module() -> object:
    return "not a module"


def flat_net() -> nn.Module:
    """Takes 8×8 images only: a bank of another size fails at its first image."""
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))


def broken() -> nn.Module:
    raise RuntimeError("boom")
