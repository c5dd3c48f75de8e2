"""gan-prepare: prepare a folder of images once (like StyleGAN's dataset_tool), or list/clear the cache."""
from __future__ import annotations

import argparse
import sys

from gan_runner.cli.boundary import OneLineParser, guarded


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="gan-prepare", description="Decode, crop and resize a folder of images once "
                                "into a memory-mappable dataset (train on it with dataset=prepared dataset.root=DIR).")
    p.add_argument("src", nargs="?", help="folder of images (class subfolders or dataset.json give labels)")
    p.add_argument("--image-size", type=int, default=64, help="side of the square samples (default 64)")
    p.add_argument("--channels", type=int, default=3, choices=(1, 3), help="1 (gray) or 3 (RGB, default)")
    p.add_argument("--crop", default="center", choices=("center", "none"), help="center square or letterbox")
    p.add_argument("--workers", type=int, default=None, help="decoding processes (default: all cores)")
    p.add_argument("--out", default=None, help="output folder (default: the cache, $GAN_RUNNER_CACHE/datasets/KEY)")
    p.add_argument("--list", action="store_true", help="list the prepared datasets in the cache")
    p.add_argument("--clear", action="store_true", help="delete every prepared dataset in the cache")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--verbose", action="store_true", help="full tracebacks for errors")
    return p


def _body(args: argparse.Namespace) -> None:
    from gan_runner.cli.output_paths import writable_path
    from gan_runner.data.cache import clear_cache, default_cache_dir, list_cache
    from gan_runner.data.images import check_folder_options
    from gan_runner.data.prepare import prepare_folder
    from gan_runner.errors import UserError

    cache = default_cache_dir()
    if args.list:
        entries = list_cache(cache)
        for d, meta, size in entries:
            what = "incomplete (interrupted preparation)" if meta is None else \
                f"{meta['shape'][0]} x {'x'.join(map(str, meta['shape'][1:]))} from {meta['source']}"
            print(f"{d}  {size / 2**20:.1f} MiB  {what}")
        print(f"{len(entries)} entries in {cache}")
        return
    if args.clear:
        n, size = clear_cache(cache)
        print(f"removed {n} entries ({size / 2**20:.1f} MiB) from {cache}")
        return
    if args.src is None:
        raise UserError("gan-prepare needs SRC (a folder of images), or --list / --clear")
    check_folder_options("gan-prepare", args.image_size, args.channels, args.crop, args.workers)
    out_dir = writable_path(args.out, "--out", folder=True) if args.out is not None else None
    out = prepare_folder(args.src, image_size=args.image_size, channels=args.channels, crop=args.crop,
                         workers=args.workers, out=out_dir,
                         name="gan-prepare", quiet=args.quiet)
    print(out)


def main(argv: list[str] | None = None) -> None:
    """Entry point of gan-prepare: exit 0 done, 2 bad input (one line)."""
    args = _parser().parse_args(argv)
    sys.exit(guarded(lambda: _body(args), args.verbose))


if __name__ == "__main__":
    main()
