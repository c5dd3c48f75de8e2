"""One image file -> uint8 (C, S, S): decoded (torchvision's libjpeg-turbo/libpng, PIL fallback), cropped, resized.

The header is read first (PIL, lazily: no pixels) so a decompression bomb is refused before any
pixel buffer is allocated; JPEG/PNG in common modes go to torchvision.io (faster than PIL, measured
in bench/data_prepare.py), everything else (BMP, CMYK, 16-bit, ...) to PIL's convert.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

Crop = Literal["center", "none"] | int  # int: a centered square of that side (CelebA's 140), then resize
MAX_PIXELS = 64 * 2**20  # 64 MP: larger "images" are refused as decompression bombs (PIL warns at 89 MP)
_FAST_MODES = {"RGB", "L", "RGBA", "LA", "P"}  # modes torchvision's JPEG/PNG decoders convert like PIL


class BadImage(Exception):
    """A file that cannot become an image sample; its message is one short reason."""


def decode_bytes(data: bytes, path: Path, channels: int) -> torch.Tensor:
    """Bytes of one image file -> uint8 (C, H, W) with the requested channels; BadImage if they are not one."""
    import io

    from PIL import Image

    if not data:
        raise BadImage("zero-byte file")
    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise BadImage(f"{w}x{h} pixels is over the {MAX_PIXELS // 2**20} MP limit (decompression bomb?)")
            fmt, mode = img.format, img.mode
            if fmt in ("JPEG", "PNG") and mode in _FAST_MODES:
                from torchvision.io import ImageReadMode, decode_image

                try:
                    buf = torch.frombuffer(bytearray(data), dtype=torch.uint8)
                    rmode = ImageReadMode.GRAY if channels == 1 else ImageReadMode.RGB
                    with warnings.catch_warnings():  # torchvision 0.29 flags its decoders for a move to torchcodec
                        warnings.simplefilter("ignore", DeprecationWarning)
                        return decode_image(buf, mode=rmode)
                except RuntimeError:
                    pass  # e.g. a truncated file libjpeg rejects: PIL below gives the reason
            out = img.convert("L" if channels == 1 else "RGB")  # forces the full decode: truncation fails here
    except BadImage:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise BadImage(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    x = torch.frombuffer(bytearray(out.tobytes()), dtype=torch.uint8).view(h, w, channels)
    return x.permute(2, 0, 1)


def square(x: torch.Tensor, crop: Crop) -> torch.Tensor:
    """(C, H, W) -> (C, S, S): the centered square ('center', or of side `crop`) or black letterbox bars ('none')."""
    _, h, w = x.shape
    if crop == "center" or isinstance(crop, int):
        side = min(h, w) if crop == "center" else min(h, w, int(crop))
        top, left = (h - side) // 2, (w - side) // 2
        return x[:, top : top + side, left : left + side]
    side = max(h, w)
    out = torch.zeros((x.shape[0], side, side), dtype=torch.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    out[:, top : top + h, left : left + w] = x
    return out


def resize_one(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (C, H, W) -> uint8 (C, size, size), bilinear with antialias (the same as resize_images)."""
    if tuple(x.shape[-2:]) == (size, size):
        return x.contiguous()
    y = F.interpolate(x.unsqueeze(0).float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return y[0].round_().clamp_(0, 255).to(torch.uint8)


def load_image(item: Path | bytes, image_size: int, channels: int, crop: Crop) -> torch.Tensor:
    """One file (or its bytes, e.g. an lmdb value) -> uint8 (channels, image_size, image_size); BadImage if it is none."""
    if isinstance(item, bytes):
        data, path = item, Path("<bytes>")
    else:
        try:
            data, path = item.read_bytes(), item
        except OSError as e:
            raise BadImage(e.strerror or type(e).__name__) from None
    return resize_one(square(decode_bytes(data, path, channels), crop), image_size)
