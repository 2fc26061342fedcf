"""The MAE reference train step in PyTorch on the CPU: the comparison for benchmarks/mae_levers.py.

Same architecture as ``sensorimotor.nn.vit.MaskedAutoencoderViT`` (224x224, patch 16, width 256,
6 encoder + 6 decoder pre-norm blocks, 8 heads, MLP ratio 4, fixed 2-D sin-cos positions, random
mask 0.75 per sample, MSE on masked patches, AdamW), written the way the official MAE is (per-sample
shuffle + gather, ``F.scaled_dot_product_attention``). Needs torch, so it runs in another Python:
``~/.cache/sensorimotor/lerobot-venv/bin/python benchmarks/mae_torch.py [--batch 16]``.
Prints one ``RESULT {json}`` line (ms/step, GFLOP/s with the same FLOP count as the JAX side).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

P, WIDTH, DEPTH, HEADS, RATIO, SIZE = 16, 256, 6, 8, 0.75, 224


def sincos(grid: int, dim: int) -> torch.Tensor:
    omega = 1.0 / 10000 ** (np.arange(dim // 4, dtype=np.float64) / (dim / 4))
    ys, xs = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")

    def embed(pos: np.ndarray) -> np.ndarray:
        a = pos.reshape(-1)[:, None] * omega[None]
        return np.concatenate([np.sin(a), np.cos(a)], axis=1)

    return torch.from_numpy(np.concatenate([embed(ys), embed(xs)], 1).astype(np.float32))


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(WIDTH, eps=1e-6)
        self.qkv = nn.Linear(WIDTH, 3 * WIDTH)
        self.proj = nn.Linear(WIDTH, WIDTH)
        self.norm2 = nn.LayerNorm(WIDTH, eps=1e-6)
        self.fc1 = nn.Linear(WIDTH, 4 * WIDTH)
        self.fc2 = nn.Linear(4 * WIDTH, WIDTH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(b, t, 3, HEADS, d // HEADS).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class MAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.patch_embed = nn.Linear(P * P * 3, WIDTH)
        self.encoder = nn.Sequential(
            *[Block() for _ in range(DEPTH)], nn.LayerNorm(WIDTH, eps=1e-6)
        )
        self.decoder_embed = nn.Linear(WIDTH, WIDTH)
        self.mask_token = nn.Parameter(torch.randn(1, 1, WIDTH) * 0.02)
        self.decoder = nn.Sequential(
            *[Block() for _ in range(DEPTH)], nn.LayerNorm(WIDTH, eps=1e-6)
        )
        self.pred = nn.Linear(WIDTH, P * P * 3)
        self.register_buffer("pos", sincos(SIZE // P, WIDTH)[None])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        b = images.shape[0]
        g = SIZE // P
        patches = images.reshape(b, g, P, g, P, 3).permute(0, 1, 3, 2, 4, 5).reshape(b, g * g, -1)
        n = g * g
        keep = n - int(round(RATIO * n))
        x = self.patch_embed(patches) + self.pos
        shuffle = torch.rand(b, n).argsort(1)
        restore = shuffle.argsort(1)
        visible = shuffle[:, :keep]
        x = torch.gather(x, 1, visible[..., None].expand(-1, -1, WIDTH))
        x = self.encoder(x)
        y = self.decoder_embed(x)
        y = torch.cat([y, self.mask_token.expand(b, n - keep, -1)], 1)
        y = torch.gather(y, 1, restore[..., None].expand(-1, -1, WIDTH)) + self.pos
        pred = self.pred(self.decoder(y))
        mask = torch.ones(b, n)
        mask[:, :keep] = 0
        mask = torch.gather(mask, 1, restore)
        loss = ((pred - patches) ** 2).mean(-1)
        return (loss * mask).sum() / mask.sum()


def flops_per_sample() -> float:
    """Forward x 3, matmuls only: the same count as ``sensorimotor.nn.vit.mae_flops_per_sample``."""
    n = (SIZE // P) ** 2
    keep = n - int(round(RATIO * n))

    def blocks(t: int) -> float:
        return DEPTH * (2 * t * WIDTH * (4 * WIDTH + 8 * WIDTH) + 4 * t * t * WIDTH)

    fwd = 2 * n * P * P * 3 * WIDTH + blocks(keep) + 2 * keep * WIDTH * WIDTH + blocks(n)
    return 3 * (fwd + 2 * n * WIDTH * P * P * 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = MAE()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    images = torch.rand(args.batch, SIZE, SIZE, 3)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        model(images).backward()
        opt.step()

    for _ in range(2):
        step()
    times, cpus = [], []
    for _ in range(args.repeat):
        start, cpu = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    seconds, cpu_seconds = statistics.median(times), statistics.median(cpus)
    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "ms/step": 1e3 * seconds,
        "GFLOP/s": flops_per_sample() * args.batch / seconds / 1e9,
        "GFLOP per CPU-s": flops_per_sample() * args.batch / cpu_seconds / 1e9,
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
