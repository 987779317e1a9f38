#!/usr/bin/env python3
"""Generates tests/fixtures/icc/: Display P3 test patches (PNG iCCP, JPEG APP2, WebP ICCP) and the sRGB
values libvips gives for each patch centre (`p3-patches.libvips-srgb.txt`), the reference the pipeline's
colour-profile tests compare against. Run once with the repo's .venv (pyvips + pyvips-binary)."""
import os
import pyvips

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "icc")
PATCHES = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (200, 120, 40), (128, 128, 128), (40, 180, 220),
           (250, 230, 60), (90, 30, 140)]
SIZE = 16

def main():
    os.makedirs(OUT, exist_ok=True)
    tiles = [(pyvips.Image.black(SIZE, SIZE, bands=3) + list(c)).cast("uchar") for c in PATCHES]
    img = pyvips.Image.arrayjoin(tiles, across=4).copy(interpretation="srgb")
    p3 = img.icc_export(output_profile="p3").get("icc-profile-data")
    tagged = img.copy()
    tagged.set_type(pyvips.GValue.blob_type, "icc-profile-data", p3)
    tagged.pngsave(os.path.join(OUT, "p3-patches.png"), keep="icc")
    tagged.jpegsave(os.path.join(OUT, "p3-patches.jpg"), Q=95, subsample_mode="off", keep="icc")
    tagged.webpsave(os.path.join(OUT, "p3-patches.webp"), lossless=True, keep="icc")
    ref = pyvips.Image.new_from_file(os.path.join(OUT, "p3-patches.png")).icc_transform("srgb")
    with open(os.path.join(OUT, "p3-patches.libvips-srgb.txt"), "w") as f:
        f.write("# x y r g b: libvips icc_transform(srgb) at each patch centre of p3-patches.png\n")
        for i in range(len(PATCHES)):
            x, y = (i % 4) * SIZE + SIZE // 2, (i // 4) * SIZE + SIZE // 2
            r, g, b = [int(v) for v in ref(x, y)[:3]]
            f.write(f"{x} {y} {r} {g} {b}\n")

if __name__ == "__main__":
    main()
