#!/usr/bin/env python3
"""Animated WebP: our encoder against libvips' webpsave on the same frames, frame by frame.

Input: the files written by the ignored probe `pipeline::animation::encoder_tests::dump_frames_for_libvips_comparison`
(`<dir>/<stem>.frames.rgba`, `.frames.json`, `.ours.webp`). Encodes the same RGBA frames with libvips
(`webpsave` Q75 effort 4, as benches/compare.rs) into `<stem>.libvips.webp`, then lists both files' ANMF
chunks side by side (rectangle, duration, blend, dispose, ALPH and VP8/VP8L sizes): where they differ is
where the bytes go.

    .venv/bin/python scripts/webp_anim_compare.py [/tmp/gifbytes] [iss634]
"""
import json
import struct
import sys

import pyvips


def chunks(data, start, end):
    """(fourcc, payload) of the RIFF chunks in data[start:end]."""
    pos = start
    while pos + 8 <= end:
        tag, size = data[pos:pos + 4].decode("latin1"), struct.unpack("<I", data[pos + 4:pos + 8])[0]
        yield tag, data[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)


def frames_of(data):
    """Per ANMF frame: x, y, w, h, duration, blend, dispose and the sizes of its sub-chunks."""
    out = []
    for tag, body in chunks(data, 12, len(data)):
        if tag != "ANMF":
            continue
        x, y = (int.from_bytes(body[i:i + 3], "little") * 2 for i in (0, 3))
        w, h = (int.from_bytes(body[i:i + 3], "little") + 1 for i in (6, 9))
        dur, flags = int.from_bytes(body[12:15], "little"), body[15]
        subs = {t: len(b) for t, b in chunks(body, 16, len(body))}
        out.append(dict(x=x, y=y, w=w, h=h, dur=dur, blend="no" if flags & 2 else "yes",
                        dispose="bg" if flags & 1 else "none", **subs))
    return out


def libvips_encode(raw, meta, quality):
    w, h, n = meta["width"], meta["height"], meta["frames"]
    img = pyvips.Image.new_from_memory(raw, w, h * n, 4, "uchar")
    img = img.copy(interpretation="srgb")
    img.set_type(pyvips.GValue.gint_type, "page-height", h)
    img.set_type(pyvips.GValue.array_int_type, "delay", meta["delays"])
    img.set_type(pyvips.GValue.gint_type, "loop", 0)
    return img.write_to_buffer(".webp", Q=quality, effort=4, strip=True)


def describe(f):
    return (f"{f['x']:3},{f['y']:3} {f['w']:3}x{f['h']:3} {f['dur']:4}ms blend={f['blend']:3} "
            f"disp={f['dispose']:4} ALPH={f.get('ALPH', 0):5} VP8={f.get('VP8 ', 0):5} VP8L={f.get('VP8L', 0):5}")


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "/tmp/gifbytes"
    stem = sys.argv[2] if len(sys.argv) > 2 else "iss634"
    meta = json.load(open(f"{d}/{stem}.frames.json"))
    raw = open(f"{d}/{stem}.frames.rgba", "rb").read()
    ours = open(f"{d}/{stem}.ours.webp", "rb").read()
    theirs = libvips_encode(raw, meta, 75)
    open(f"{d}/{stem}.libvips.webp", "wb").write(theirs)
    a, b = frames_of(ours), frames_of(theirs)
    print(f"{stem}: ours {len(ours)} bytes, {len(a)} frames; libvips {len(theirs)} bytes, {len(b)} frames "
          f"({len(ours) / len(theirs):.3f}x)")
    for i in range(max(len(a), len(b))):
        left = describe(a[i]) if i < len(a) else "-"
        right = describe(b[i]) if i < len(b) else "-"
        print(f"{i:2} ours {left}\n   vips {right}")


if __name__ == "__main__":
    main()
