#!/usr/bin/env python3
"""Generates tests/fixtures/icc/ CMYK and grey JPEGs with embedded profiles, and libvips' sRGB rendering of
each as PNG (`NAME.libvips.png`), the references the colour-profile tests compare against:
  cmyk-patches.jpg   sRGB patches and a gradient exported to a small CMYK profile written below (an ink
                     model: lut16 A2B0/B2A0 on a 9-point grid; libvips' built-in CMYK profile is 1 MB),
                     an Adobe APP14 file: libjpeg writes CMYK inverted, as Photoshop does
  grey-g18.jpg       a grey ramp tagged with a "Gray Gamma 1.8" profile (written below, ICC v2 kTRC)
Run once with the repo's .venv (pyvips + pyvips-binary)."""
import os
import struct
import tempfile
import pyvips

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "icc")
PATCHES = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (200, 120, 40), (128, 128, 128), (40, 180, 220),
           (250, 230, 60), (90, 30, 140)]
SIZE = 16

def s15f16(v):
    return struct.pack(">i", round(v * 65536))

def tag_xyz(x, y, z):
    return b"XYZ \0\0\0\0" + s15f16(x) + s15f16(y) + s15f16(z)

def tag_desc(text):
    t = text.encode() + b"\0"
    return b"desc\0\0\0\0" + struct.pack(">I", len(t)) + t + b"\0" * 12 + b"\0\0\0" + b"\0" * 67

def gray_profile(gamma):
    """A minimal ICC v2 display profile: GRAY data, XYZ PCS, D50 white, kTRC a pure gamma."""
    tags = [(b"desc", tag_desc(f"Gray Gamma {gamma}")),
            (b"wtpt", tag_xyz(0.9642, 1.0, 0.8249)),
            (b"cprt", b"text\0\0\0\0Public domain test profile\0"),
            (b"kTRC", b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)))]
    return icc(tags, b"mntr", b"GRAY")

# Ink colours (sRGB, 100 % on white) of the test CMYK profile: real inks are far from (0,255,255) etc.,
# so a conversion that ignores the profile is visibly off.
INKS = [(0, 158, 224), (236, 0, 140), (255, 237, 0), (35, 31, 32)]
# sRGB primaries adapted to D50 (the ICC sRGB profile's colorants): linear RGB -> PCS XYZ.
SRGB_D50 = [(0.4360747, 0.3850649, 0.1430804), (0.2225045, 0.7168786, 0.0606169), (0.0139322, 0.0971045, 0.7141733)]

def linear(v):
    v /= 255
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

def cmyk_to_xyz(c, m, y, k):
    """Subtractive ink model in linear light: each ink filters by its transmittance."""
    rgb = [1.0, 1.0, 1.0]
    for amount, ink in zip((c, m, y, k), INKS):
        for i in range(3):
            rgb[i] *= 1 - amount * (1 - linear(ink[i]))
    return [sum(row[i] * rgb[i] for i in range(3)) for row in SRGB_D50]

def lut16(inputs, outputs, grid, fn):
    """An ICC v2 lut16Type: identity curves, a `grid`^inputs CLUT of fn(point) -> outputs values in 0..1."""
    import itertools
    head = b"mft2\0\0\0\0" + bytes([inputs, outputs, grid, 0])
    head += b"".join(s15f16(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1)) + struct.pack(">HH", 2, 2)
    curves = lambda n: struct.pack(">HH", 0, 65535) * n
    clut = b""
    for point in itertools.product(range(grid), repeat=inputs):
        clut += b"".join(struct.pack(">H", max(0, min(65535, round(v * 65535)))) for v in fn([p / (grid - 1) for p in point]))
    return head + curves(inputs) + clut + curves(outputs)

def cmyk_profile(grid=9):
    # PCS XYZ in lut16 is u1Fixed15: 1.0 = 32768, so a 0..1 table value v means XYZ 65535/32768 * v.
    scale = 32768 / 65535
    a2b = lut16(4, 3, grid, lambda p: [v * scale for v in cmyk_to_xyz(*p)])
    # B2A (needed to export): grey-component replacement-free inverse of the ink model is overkill for a
    # test; a naive one (XYZ -> sRGB-ish -> CMY, K = 0) is enough for libvips to write the fixture.
    def xyz_to_cmyk(xyz):
        x, y, z = (v / scale for v in xyz)
        inv = [(3.1338561, -1.6168667, -0.4906146), (-0.9787684, 1.9161415, 0.0334540), (0.0719453, -0.2289914, 1.4052427)]
        rgb = [max(0.0, min(1.0, sum(r[i] * (x, y, z)[i] for i in range(3)))) for r in inv]
        return [1 - v ** (1 / 2.2) for v in rgb] + [0.0]
    b2a = lut16(3, 4, 9, xyz_to_cmyk)
    tags = [(b"desc", tag_desc("Test CMYK ink model")), (b"wtpt", tag_xyz(0.9642, 1.0, 0.8249)),
            (b"cprt", b"text\0\0\0\0Public domain test profile\0"), (b"A2B0", a2b), (b"B2A0", b2a)]
    return icc(tags, b"prtr", b"CMYK")

def icc(tags, klass, space):
    table_len = 4 + 12 * len(tags)
    offset, body, table = 128 + table_len, b"", b""
    for sig, data in tags:
        while len(data) % 4:
            data += b"\0"
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = 128 + table_len + len(body)
    header = struct.pack(">I4sI4s4s4s", size, b"none", 0x02100000, klass, space, b"XYZ ")
    header += b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0) + s15f16(0.9642) + s15f16(1.0) + s15f16(0.8249)
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body

def main():
    os.makedirs(OUT, exist_ok=True)
    tiles = [(pyvips.Image.black(SIZE, SIZE, bands=3) + list(c)).cast("uchar") for c in PATCHES]
    patches = pyvips.Image.arrayjoin(tiles, across=4)
    ramp = (pyvips.Image.xyz(64, 16)[0] * 4).cast("uchar")
    img = patches.join(ramp.bandjoin([ramp, 255 - ramp]), "vertical").copy(interpretation="srgb")
    with tempfile.NamedTemporaryFile(suffix=".icc") as profile:
        profile.write(cmyk_profile())
        profile.flush()
        cmyk = img.icc_export(output_profile=profile.name)  # carries the CMYK profile it was exported to
        cmyk.jpegsave(os.path.join(OUT, "cmyk-patches.jpg"), Q=95, keep="icc")
    grey = (pyvips.Image.xyz(64, 16)[0] * 4).cast("uchar").copy(interpretation="b-w")
    grey.set_type(pyvips.GValue.blob_type, "icc-profile-data", gray_profile(1.8))
    grey.jpegsave(os.path.join(OUT, "grey-g18.jpg"), Q=95, keep="icc")
    for name in ["cmyk-patches", "grey-g18"]:
        src = pyvips.Image.new_from_file(os.path.join(OUT, f"{name}.jpg"))
        src.icc_transform("srgb", embedded=True).pngsave(os.path.join(OUT, f"{name}.libvips.png"))

if __name__ == "__main__":
    main()
