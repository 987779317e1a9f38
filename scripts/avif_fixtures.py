#!/usr/bin/env python3
"""Generates tests/fixtures/avif/: small AVIFs our own encoder (ravif) cannot write (12-bit, 4:2:0, libaom
through libheif) and libvips' decode of each as PNG (`NAME.libvips.png`), the reference the AVIF decoder
tests compare against. Run once with the repo's .venv (pyvips + pyvips-binary)."""
import os
import pyvips

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "avif")
W, H = 48, 32

def gradient():
    xy = pyvips.Image.xyz(W, H)
    r, g, b = xy[0] * 255 / W, xy[1] * 255 / H, (xy[0] + xy[1]) * 127 / (W + H)
    return r.bandjoin([g, b]).cast("uchar").copy(interpretation="srgb")

def main():
    os.makedirs(OUT, exist_ok=True)
    img = gradient()
    ramp = (pyvips.Image.xyz(W, H)[0] * 255 / W).cast("uchar")
    cases = [
        ("12bit-420", img, dict(bitdepth=12, subsample_mode="on")),
        ("10bit-444", img, dict(bitdepth=10, subsample_mode="off")),
        ("8bit-420-alpha", img.bandjoin(ramp), dict(bitdepth=8, subsample_mode="on")),
    ]
    for name, src, kw in cases:
        path = os.path.join(OUT, f"{name}.avif")
        src.heifsave(path, compression="av1", Q=90, effort=0, strip=True, **kw)
        # High bit depths load as 16-bit (rgb16); the reference is its 8-bit sRGB, as thumbnails are.
        pyvips.Image.new_from_file(path).colourspace("srgb").pngsave(os.path.join(OUT, f"{name}.libvips.png"))

if __name__ == "__main__":
    main()
