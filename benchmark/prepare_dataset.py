#!/usr/bin/env python3
"""Make the benchmark's data set: JPEG bytes in Parquet, split into files for the cluster.

Sources (one of):
  --imagenet-tar ILSVRC2012_img_val.tar   the ImageNet 2012 validation tar (50,000 JPEGs), read
                                          as a stream; --limit N keeps the first N (by name)
  --images-dir DIR                        every *.jpg / *.jpeg under DIR
  --synthetic N                           offline: N ImageNet-like JPEGs made from real photos
                                          that scikit-learn ships (china.jpg, flower.jpg):
                                          random crops, flips and scales, re-encoded at typical
                                          ImageNet sizes (mostly 500x375) and qualities

Output: DIR/part-00000.parquet ... with columns ``id`` (string) and ``image`` (binary JPEG),
small row groups (--row-group images) so Spark can split files into as many tasks as it wants,
and DIR/_dataset.json describing how it was made (Spark and pyarrow skip ``_`` files).

Safety: the input is only read. The output is built in a temporary folder beside it and renamed
at the end; an existing output is refused unless --overwrite, and even then only a folder that
this script made (it holds _dataset.json) is replaced. The output may not lie inside the input
or contain it.

Examples:
  .envs/torch/bin/python benchmark/prepare_dataset.py --synthetic 2000 \\
      --output output/benchmark/data_2000
  .envs/torch/bin/python benchmark/prepare_dataset.py --imagenet-tar ~/ILSVRC2012_img_val.tar \\
      --output /data/imagenet_val_parquet --files 64
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmark.lib.dataset import make_dataset  # noqa: E402 (after the path is set)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--imagenet-tar", type=Path, help="ILSVRC2012_img_val.tar (or any JPEG tar)")
    src.add_argument("--images-dir", type=Path, help="a folder of JPEG files")
    src.add_argument("--synthetic", type=int, metavar="N", help="N offline ImageNet-like images")
    ap.add_argument("--output", type=Path, required=True, help="output folder (must not exist)")
    ap.add_argument("--limit", type=int, help="keep at most this many images of a tar/folder")
    ap.add_argument("--files", type=int, help="Parquet files (default: one per 1000 images, >= 2)")
    ap.add_argument("--row-group", type=int, default=64, help="images per row group (default 64)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic images")
    ap.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes making synthetic images"
    )
    ap.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an output folder that this script made earlier",
    )
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    out = make_dataset(
        args.output,
        imagenet_tar=args.imagenet_tar,
        images_dir=args.images_dir,
        synthetic=args.synthetic,
        limit=args.limit,
        files=args.files,
        row_group=args.row_group,
        seed=args.seed,
        workers=args.workers,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    if not args.quiet:
        print(
            f"wrote {out['images']} images ({out['mean_jpeg_bytes'] / 1e3:.0f} KB mean) in "
            f"{out['files']} files to {args.output} ({time.monotonic() - t0:.1f} s)",
            file=sys.stderr,
        )
    return out


if __name__ == "__main__":
    main()
