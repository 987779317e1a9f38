#!/usr/bin/env python3
"""Times libvips (the engine of imgproxy and sharp) on one workload, the way imgproxy drives it:
thumbnail_buffer (shrink-on-load + lanczos3) then save. Prints one JSON line for benches/compare.rs.

Run single-threaded with VIPS_CONCURRENCY=1. Settings mirror ours and imgproxy's: JPEG Q with 4:2:0 chroma,
optimised Huffman tables and metadata stripped (imgproxy passes optimize_coding and strip to jpegsave),
WebP Q with effort 4 (libwebp method 4), AVIF Q with the given effort (imgproxy passes 9 - IMGPROXY_AVIF_SPEED,
so our default speed 8 is effort 1). --pages keeps that many frames of an animation (n=).
"""
import argparse
import json
import statistics
import time

import pyvips


def run_once(buf, args):
    image = pyvips.Image.thumbnail_buffer(buf, args.width, height=args.height or 10_000_000,
                                          option_string=f"n={args.pages}" if args.pages != 1 else "")
    if args.blur > 0:
        image = image.gaussblur(args.blur)
    if args.format == "jpeg":
        if image.hasalpha():
            image = image.flatten(background=[255, 255, 255])
        return image, image.write_to_buffer(".jpg", Q=args.quality, optimize_coding=True, strip=True)
    if args.format == "webp":
        return image, image.write_to_buffer(".webp", Q=args.quality, effort=4, strip=True)
    if args.format == "avif":
        return image, image.write_to_buffer(".avif", Q=args.quality, effort=args.effort)
    if args.format == "png":
        return image, image.write_to_buffer(".png", compression=args.compression)
    raise SystemExit(f"unknown format {args.format}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--file", required=True)
    p.add_argument("--format", required=True)
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--height", type=int, default=0)
    p.add_argument("--quality", type=int, default=80)
    p.add_argument("--blur", type=float, default=0.0)
    p.add_argument("--effort", type=int, default=4)
    p.add_argument("--compression", type=int, default=6)
    p.add_argument("--pages", type=int, default=1)
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--save", default="")
    args = p.parse_args()
    buf = open(args.file, "rb").read()
    run_once(buf, args)  # warm-up: loads, allocates pools
    times = []
    for _ in range(args.iterations):
        start = time.perf_counter()
        image, out = run_once(buf, args)
        times.append((time.perf_counter() - start) * 1000.0)
    if args.save:
        open(args.save, "wb").write(out)
    print(json.dumps({
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "bytes": len(out),
        "width": image.width,
        "height": image.height,
        "libvips": f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}",
    }))


if __name__ == "__main__":
    main()
