"""Self-attention blocks of the attention variant of the network; imports only torch.

- :class:`PatchAttention`: patch-wise self-attention of Zhao, Jia, Koltun (CVPR 2020) over a
  3x3 footprint, as a pre-activation bottleneck with an identity shortcut; used after each
  downsampling conv of the low-level network.
- :class:`SelfAttention`: the SAGAN block (Zhang et al. 2019) over all positions; used before
  the output conv of the colorization network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SHARE = 8  # channels that share one attention weight in PatchAttention


class PatchAttention(nn.Module):
    """Patch-wise self-attention bottleneck (Zhao et al. 2020, "SAN", patchwise variant).

    For each position i and each j in its k x k footprint R(i)::

        y_i = sum_{j in R(i)} alpha(x_R(i))_j * beta(x_j)      (element-wise over channels)

    alpha is computed from ``[phi(x_i); psi(x_j) for j in R(i)]`` by BN-ReLU-1x1 twice and
    gives one weight per footprint position for each of ``C/4 / 8`` channel groups; channel c of
    beta uses weight group ``c % groups``, as in the authors' aggregation kernel. The block is
    ``x + conv1x1(ReLU(BN(attention(ReLU(BN(x))))))``. No softmax over the footprint (the
    patch-wise variant of the paper has none). Positions outside the frame are zero: they add
    nothing to y_i and show as psi = 0 to alpha (the authors pad by reflection; zero padding
    also works on 1x1 feature maps).

    Args:
        channels: C, input and output channels.
        kernel_size: footprint size k.
    """

    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
        self.k = kernel_size
        self.rel = max(1, channels // 16)  # phi, psi width
        self.mid = max(1, channels // 4)  # beta width (the bottleneck)
        self.groups = max(1, self.mid // SHARE)  # attention weights per footprint position
        kk = kernel_size * kernel_size
        self.pre = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.phi = nn.Conv2d(channels, self.rel, 1)
        self.psi = nn.Conv2d(channels, self.rel, 1)
        self.beta = nn.Conv2d(channels, self.mid, 1)
        self.alpha = nn.Sequential(
            nn.BatchNorm2d(self.rel * (kk + 1)),
            nn.ReLU(inplace=True),
            nn.Conv2d(self.rel * (kk + 1), self.groups, 1, bias=False),
            nn.BatchNorm2d(self.groups),
            nn.ReLU(inplace=True),
            nn.Conv2d(self.groups, self.groups * kk, 1),
        )
        self.post = nn.Sequential(
            nn.BatchNorm2d(self.mid), nn.ReLU(inplace=True), nn.Conv2d(self.mid, channels, 1)
        )

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        """The attention operation alone, on pre-activated input: (B, C, H, W) -> (B, C/4, H, W)."""
        b, _, h, w = x.shape
        kk = self.k * self.k

        def footprint(t: torch.Tensor) -> torch.Tensor:  # (B, c, H, W) -> (B, c, k*k, H*W)
            cols = F.unfold(t, self.k, padding=self.k // 2)  # (B, c*k*k, H*W), zero padded
            return cols.view(b, t.shape[1], kk, h * w)

        phi = self.phi(x)  # (B, rel, H, W): the centre x_i
        psi = footprint(self.psi(x)).flatten(1, 2)  # (B, rel*k*k, H*W): each x_j of R(i)
        weights = self.alpha(torch.cat((phi.flatten(2), psi), 1).view(b, -1, h, w))
        weights = weights.view(b, self.groups, kk, h * w)  # (B, groups, k*k, H*W)
        repeats = -(-self.mid // self.groups)
        weights = weights.repeat(1, repeats, 1, 1)[:, : self.mid]  # (B, C/4, k*k, H*W)
        values = footprint(self.beta(x))  # (B, C/4, k*k, H*W)
        return (weights * values).sum(2).view(b, self.mid, h, w)  # (B, C/4, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.post(self.attend(self.pre(x)))  # (B, C, H, W)


class SelfAttention(nn.Module):
    """SAGAN self-attention over all positions: ``y = gamma * o + x``, gamma starting at 0.

    ``o_j = sum_i softmax_i(f(x_i) . g(x_j)) h(x_i)`` with f, g: 1x1 to C/8 and h: 1x1 to C.

    Cost: O(N^2 C) time for N = H*W positions: 4 N^2 C FLOPs, i.e. 0.75 TFLOP for C = 32 at
    320x240 (a 640x480 frame at the colorization network's half resolution; the whole paper
    network needs 0.1 TFLOP there) and 34 TFLOP at 960x540 (a 1080p frame). Memory stays
    O(N C): the N x N attention matrix is never stored, because
    :func:`torch.nn.functional.scaled_dot_product_attention` runs a fused kernel (flash
    attention on CPU and CUDA). That kernel needs queries and keys as wide as the values, so
    f and g are zero-padded from C/8 to C; the dot products do not change, and without the
    padding PyTorch falls back to a kernel that stores the N x N matrix (23 GB at 320x240).

    Args:
        channels: C, input and output channels.
    """

    def __init__(self, channels: int):
        super().__init__()
        inner = max(1, channels // 8)
        self.f = nn.Conv2d(channels, inner, 1)  # keys
        self.g = nn.Conv2d(channels, inner, 1)  # queries
        self.h = nn.Conv2d(channels, channels, 1)  # values
        self.gamma = nn.Parameter(torch.zeros(1))

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        """The attention output o alone: (B, C, H, W) -> (B, C, H, W)."""
        b, c, h, w = x.shape

        def tokens(t: torch.Tensor) -> torch.Tensor:  # (B, c', H, W) -> (B, 1, H*W, C)
            t = t.flatten(2).transpose(1, 2)[:, None]
            # the fused kernels also need channels contiguous, or SDPA falls back to N x N
            return F.pad(t, (0, c - t.shape[-1])).contiguous()

        q, k, v = tokens(self.g(x)), tokens(self.f(x)), tokens(self.h(x))  # (B, 1, H*W, C)
        o = F.scaled_dot_product_attention(q, k, v, scale=1.0)  # (B, 1, H*W, C), no 1/sqrt(d)
        return o[:, 0].transpose(1, 2).reshape(b, c, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gamma * self.attend(x)  # (B, C, H, W)
