#!/usr/bin/env python3
"""Times libvips (the engine of imgproxy and sharp) on one workload. Prints one JSON line for
benches/compare.rs, with the process' peak RSS (VmHWM, which includes the interpreter and libvips itself).

--mode thumbnail: thumbnail_buffer (libvips' shrink-on-load, which keeps a margin of 2 for the final
Lanczos3, + lanczos3). --mode imgproxy: the way imgproxy drives libvips: JPEGs load with shrink = the
largest of 8, 4, 2 that still covers the target, then `resize` with Lanczos3 to the exact size, alpha
premultiplied around it (imgproxy's vips_resize_go); animations are loaded whole into memory and each
frame is resized on its own and copied to memory, then joined (imgproxy's transformAnimated).

Run single-threaded with VIPS_CONCURRENCY=1 (libvips still runs a write-behind thread: benches/compare.rs
pins the process to one core with taskset, and this script reports CPU time of the whole process, every
thread, next to wall time, and the CPUs it was allowed to run on). --lossless 1 runs the same pipeline but
encodes losslessly (WebP lossless for WebP, keeping the frames; PNG otherwise): the reference the lossy
output's SSIM is measured against. Settings mirror ours and imgproxy's: JPEG Q with 4:2:0 chroma,
optimised Huffman tables and metadata stripped (imgproxy passes optimize_coding and strip to jpegsave),
WebP Q with effort 4 (libwebp method 4), AVIF Q with the given effort (imgproxy passes 9 - IMGPROXY_AVIF_SPEED,
so our default speed 8 is effort 1). --pages keeps that many frames of an animation (n=).
"""
import argparse
import json
import statistics
import time

import pyvips


def thumbnail(buf, args):
    return pyvips.Image.thumbnail_buffer(buf, args.width, height=args.height or 10_000_000,
                                         option_string=f"n={args.pages}" if args.pages != 1 else "")


def resize_frame(img, width, height):
    """Lanczos3 to exactly width x height, premultiplied when there is alpha (as imgproxy)."""
    alpha = img.hasalpha()
    if alpha:
        img = img.premultiply()
    img = img.resize(width / img.width, vscale=height / img.height, kernel="lanczos3")
    return img.unpremultiply().cast("uchar") if alpha else img


def imgproxy_way(buf, args):
    head = pyvips.Image.new_from_buffer(buf, "", **({"n": args.pages} if args.pages != 1 else {}))
    page_h = head.get("page-height") if head.get_typeof("page-height") else head.height
    pages = head.height // page_h
    scale = args.width / head.width
    if args.height:
        scale = min(scale, args.height / page_h)
    tw, th = max(1, round(head.width * scale)), max(1, round(page_h * scale))
    if head.get("vips-loader").startswith("jpegload"):
        shrink = next((s for s in (8, 4, 2) if 1 / scale >= s), 1)
        head = pyvips.Image.jpegload_buffer(buf, shrink=shrink)
    if pages == 1:
        return resize_frame(head, tw, th)
    # imgproxy holds the decoded animation in memory and copies each transformed frame to memory.
    head = head.copy_memory()
    frames = [resize_frame(head.crop(0, i * page_h, head.width, page_h), tw, th).copy_memory()
              for i in range(pages)]
    out = pyvips.Image.arrayjoin(frames, across=1).copy()
    out.set_type(pyvips.GValue.gint_type, "page-height", th)
    return out


def run_once(buf, args):
    image = thumbnail(buf, args) if args.mode == "thumbnail" else imgproxy_way(buf, args)
    if args.blur > 0:
        image = image.gaussblur(args.blur)
    if args.format == "jpeg" and image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    if args.lossless:
        if args.format == "webp":
            return image, image.write_to_buffer(".webp", lossless=True, strip=True)
        return image, image.write_to_buffer(".png", compression=1)
    if args.format == "jpeg":
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
    p.add_argument("--mode", choices=["thumbnail", "imgproxy"], default="thumbnail")
    p.add_argument("--lossless", type=int, default=0)
    args = p.parse_args()
    buf = open(args.file, "rb").read()
    run_once(buf, args)  # warm-up: loads, allocates pools
    times, cpu = [], []
    for _ in range(args.iterations):
        start, start_cpu = time.perf_counter(), time.process_time()
        image, out = run_once(buf, args)
        times.append((time.perf_counter() - start) * 1000.0)
        cpu.append((time.process_time() - start_cpu) * 1000.0)
    if args.save:
        open(args.save, "wb").write(out)
    print(json.dumps({
        "median_ms": statistics.median(times),
        "median_cpu_ms": statistics.median(cpu),
        "min_ms": min(times),
        "bytes": len(out),
        "width": image.width,
        "height": image.height,
        "libvips": f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}",
        "peak_rss_kb": int(status_field("VmHWM:").split()[0]) if status_field("VmHWM:") else None,
        "cpus": status_field("Cpus_allowed_list:"),
    }))


def status_field(name):
    """The value of line `name` in /proc/self/status (Linux), e.g. VmHWM (peak RSS, kB) or
    Cpus_allowed_list (the CPUs this process may run on), or None."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(name):
                    return line[len(name):].strip()
    except OSError:
        pass
    return None


if __name__ == "__main__":
    main()
