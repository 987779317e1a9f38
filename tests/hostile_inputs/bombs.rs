//! Generated hostile files for `tests/hostile_inputs.rs`: headers that claim huge sizes or frame
//! counts, compression bombs, damaged copies of real files, polyglots and hostile SVG. Built from the
//! format specifications byte by byte, so each claim is exactly what the test says it is.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// One 1×1 GIF image (descriptor, 2-entry local palette, LZW clear/0/end) at the origin.
fn gif_pixel(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0x80, 0, 0, 0, 255, 255, 255]);
    out.extend_from_slice(&[0x02, 0x02, 0x44, 0x01, 0x00]);
}

fn gif_header(width: u16, height: u16) -> Vec<u8> {
    let mut out = b"GIF89a".to_vec();
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0]);
    out
}

/// A GIF whose screen and only image claim `width`×`height`, with one pixel of data.
pub fn gif_bomb(width: u16, height: u16) -> Vec<u8> {
    let mut out = gif_header(width, height);
    out.extend_from_slice(&[0x2c, 0, 0, 0, 0]);
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(&[0x80, 0, 0, 0, 255, 255, 255, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b]);
    out
}

/// A `width`×`height` GIF screen with `frames` 1×1 frames, 10 ms each: few bytes, many frames.
pub fn gif_frames(width: u16, height: u16, frames: u32) -> Vec<u8> {
    let mut out = gif_header(width, height);
    out.extend_from_slice(b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00");
    for _ in 0..frames {
        out.extend_from_slice(&[0x21, 0xf9, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00]);
        gif_pixel(&mut out);
    }
    out.push(0x3b);
    out
}

/// An APNG whose `acTL` claims `frames` frames of `width`×`height`.
pub fn apng_frame_bomb(width: u32, height: u32, frames: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let ihdr = [&width.to_be_bytes()[..], &height.to_be_bytes(), &[8, 6, 0, 0, 0]].concat();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"acTL", &[&frames.to_be_bytes()[..], &0u32.to_be_bytes()].concat());
    chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn riff_webp(chunks: &[u8]) -> Vec<u8> {
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(chunks.len() as u32 + 4).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend_from_slice(chunks);
    out
}

fn riff_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(kind);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
}

fn le24(v: u32) -> [u8; 3] {
    let [a, b, c, _] = v.to_le_bytes();
    [a, b, c]
}

fn vp8x(flags: u8, width: u32, height: u32) -> Vec<u8> {
    [&[flags, 0, 0, 0][..], &le24(width - 1), &le24(height - 1)].concat()
}

/// A 1×1 lossless VP8L bitstream header (the pixel data after it is not needed by any header probe).
const VP8L_1X1: [u8; 9] = [0x2f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];

/// An animated WebP on a `width`×`height` canvas with `frames` 1×1 frames.
pub fn animated_webp_canvas(width: u32, height: u32, frames: u32) -> Vec<u8> {
    let mut chunks = Vec::new();
    riff_chunk(&mut chunks, b"VP8X", &vp8x(0x02, width, height));
    riff_chunk(&mut chunks, b"ANIM", &[0, 0, 0, 0, 0, 0]);
    for _ in 0..frames {
        let mut frame = [&le24(0)[..], &le24(0), &le24(0), &le24(0), &le24(10), &[0]].concat();
        riff_chunk(&mut frame, b"VP8L", &VP8L_1X1);
        riff_chunk(&mut chunks, b"ANMF", &frame);
    }
    riff_webp(&chunks)
}

fn webp_bombs() -> Vec<(&'static str, Vec<u8>)> {
    let mut extended = Vec::new();
    riff_chunk(&mut extended, b"VP8X", &vp8x(0, 16_777_216, 16_777_216));
    riff_chunk(&mut extended, b"VP8L", &VP8L_1X1);
    let mut lossy = Vec::new();
    let vp8 = [&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0xff, 0x3f, 0xff, 0x3f][..], &[0u8; 32]].concat();
    riff_chunk(&mut lossy, b"VP8 ", &vp8);
    let mut lossless = Vec::new();
    riff_chunk(&mut lossless, b"VP8L", &[&[0x2f, 0xff, 0xff, 0xff, 0x0f][..], &[0u8; 32]].concat());
    vec![
        ("/bomb-vp8x.webp", riff_webp(&extended)),
        ("/bomb-vp8.webp", riff_webp(&lossy)),
        ("/bomb-vp8l.webp", riff_webp(&lossless)),
    ]
}

fn jpeg_bomb(sof: u8, width: u16, height: u16) -> Vec<u8> {
    let mut out = vec![0xff, 0xd8, 0xff, sof, 0x00, 0x11, 0x08];
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&width.to_be_bytes());
    out.extend_from_slice(&[0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01, 0xff, 0xd9]);
    out
}

fn bmp_bomb(width: i32, height: i32) -> Vec<u8> {
    let mut out = b"BM".to_vec();
    out.extend_from_slice(&70u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&54u32.to_le_bytes());
    out.extend_from_slice(&40u32.to_le_bytes());
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&24u16.to_le_bytes());
    out.extend_from_slice(&[0u8; 24]);
    out.extend_from_slice(&[0u8; 16]);
    out
}

fn tiff_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"II*\0".to_vec();
    out.extend_from_slice(&8u32.to_le_bytes());
    let entries: [(u16, u16, u32); 8] = [
        (256, 4, width),
        (257, 4, height),
        (258, 3, 8),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, 110),
        (278, 4, height),
        (279, 4, 16),
    ];
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for (tag, kind, value) in entries {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&[0u8; 16]);
    out
}

fn ico_with_png(png: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 32, 0];
    out.extend_from_slice(&(png.len() as u32).to_le_bytes());
    out.extend_from_slice(&22u32.to_le_bytes());
    out.extend_from_slice(png);
    out
}

fn iso_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    [&(body.len() as u32 + 8).to_be_bytes()[..], kind, body].concat()
}

fn avif_bomb(width: u32, height: u32) -> Vec<u8> {
    let ftyp = iso_box(b"ftyp", b"avif\0\0\0\0avifmif1miaf");
    let hdlr = iso_box(b"hdlr", &[&[0u8; 8][..], b"pict", &[0u8; 13]].concat());
    let ispe = iso_box(b"ispe", &[&[0u8; 4][..], &width.to_be_bytes(), &height.to_be_bytes()].concat());
    let ipco = iso_box(b"ipco", &ispe);
    let ipma = iso_box(b"ipma", &[0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 0x81]);
    let iprp = iso_box(b"iprp", &[ipco, ipma].concat());
    let pitm = iso_box(b"pitm", &[0, 0, 0, 0, 0, 1]);
    let meta = iso_box(b"meta", &[&[0u8; 4][..], &hdlr, &pitm, &iprp].concat());
    [ftyp, meta].concat()
}

/// Headers claiming far more pixels than the 16 MP limit, one or more per format.
pub fn pixel_bombs() -> Vec<(&'static str, Vec<u8>)> {
    let png = super::png_header_bomb(30_000, 30_000);
    let mut out = vec![
        ("/bomb.png", png.clone()),
        ("/bomb-wide.png", super::png_header_bomb(2_000_000, 10)),
        ("/bomb-max.png", super::png_header_bomb(0x7fff_ffff, 0x7fff_ffff)),
        ("/bomb.gif", gif_bomb(65_535, 65_535)),
        ("/bomb.jpg", jpeg_bomb(0xc0, 65_500, 65_500)),
        ("/bomb-progressive.jpg", jpeg_bomb(0xc2, 65_535, 65_535)),
        ("/bomb.bmp", bmp_bomb(100_000, 100_000)),
        ("/bomb-topdown.bmp", bmp_bomb(100_000, -100_000)),
        ("/bomb-min.bmp", bmp_bomb(i32::MIN + 1, i32::MIN)),
        ("/bomb.tif", tiff_bomb(100_000, 100_000)),
        ("/bomb.ico", ico_with_png(&png)),
        ("/bomb.avif", avif_bomb(100_000, 100_000)),
        ("/bomb.svg", b"<svg xmlns='http://www.w3.org/2000/svg' width='100000' height='100000'><rect width='100%' height='100%' fill='red'/></svg>".to_vec()),
    ];
    out.extend(webp_bombs());
    out
}

/// gzip of `len` zero bytes: a few tens of KiB on the wire.
pub fn gzip_zeros(len: usize) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    let block = vec![0u8; 1 << 20];
    for _ in 0..len / block.len() {
        encoder.write_all(&block).expect("gzip");
    }
    encoder.finish().expect("gzip")
}

/// gzip of `bytes`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// A deterministic byte stream (xorshift), so damaged files are the same on every run.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Damaged copies of `file`: empty, magic only, cut at several points, bytes flipped, a zeroed middle,
/// a garbage tail.
pub fn damaged(file: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let len = file.len();
    let cut = |n: usize| file.get(..n.min(len)).unwrap_or_default().to_vec();
    let mut flipped = file.to_vec();
    for (i, r) in noise(len as u64, 64).chunks(2).enumerate() {
        let at = 16 + (usize::from(r[0]) << 8 | usize::from(r[1])) * (i + 1) % len.saturating_sub(16).max(1);
        if let Some(b) = flipped.get_mut(at) {
            *b ^= 0xff;
        }
    }
    let mut zeroed = file.to_vec();
    zeroed.iter_mut().skip(len / 3).take(len / 4).for_each(|b| *b = 0);
    vec![
        ("empty", Vec::new()),
        ("magic-only", cut(4)),
        ("head-16", cut(16)),
        ("head-100", cut(100)),
        ("third", cut(len / 3)),
        ("half", cut(len / 2)),
        ("minus-one", cut(len.saturating_sub(1))),
        ("flipped", flipped),
        ("zeroed-middle", zeroed),
        ("garbage-tail", [cut(64), noise(7, 4096)].concat()),
    ]
}

/// Files that are two things at once: an image and markup, script or an archive.
pub fn polyglots(png: &[u8], gif: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let script = b"<html><body><script>alert(document.domain)</script></body></html>".to_vec();
    let mut png_text = png.get(..33).unwrap_or_default().to_vec();
    chunk(&mut png_text, b"tEXt", b"Comment\0<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>");
    png_text.extend_from_slice(png.get(33..).unwrap_or_default());
    let svg_in_html = b"<!doctype html><html><body><svg xmlns='http://www.w3.org/2000/svg' width='10' height='10' \
        onload='alert(1)'><rect width='10' height='10'/></svg><script>alert(1)</script></body></html>";
    vec![
        ("/gifar.gif", [gif, b"PK\x03\x04\x14\0\0\0\0\0", &script].concat()),
        ("/png-then-html.png", [png, &script[..]].concat()),
        ("/html-then-png.png", [&script[..], png].concat()),
        ("/gif-js.gif", [b"GIF89a/*", gif.get(8..).unwrap_or_default(), b"*/=alert(1);"].concat()),
        ("/pdf-then-png.png", [&b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"[..], png].concat()),
        ("/png-with-svg-text.png", png_text),
        ("/svg-in-html.svg", svg_in_html.to_vec()),
        (
            "/xhtml.svg",
            b"<?xml version='1.0'?><html xmlns='http://www.w3.org/1999/xhtml'><script>alert(1)</script></html>"
                .to_vec(),
        ),
    ]
}

fn svg(body: &str) -> Vec<u8> {
    format!("<svg xmlns='http://www.w3.org/2000/svg' xmlns:xlink='http://www.w3.org/1999/xlink' width='64' height='64'>{body}</svg>")
        .into_bytes()
}

fn billion_laughs() -> Vec<u8> {
    let mut dtd = String::from("<!ENTITY lol0 \"lollollollollollollollollollol\">");
    for i in 1..10 {
        let refs = format!("&lol{};", i - 1).repeat(10);
        dtd.push_str(&format!("<!ENTITY lol{i} \"{refs}\">"));
    }
    format!("<?xml version='1.0'?><!DOCTYPE svg [{dtd}]><svg xmlns='http://www.w3.org/2000/svg' width='64' height='64'><text y='20'>&lol9;</text></svg>")
        .into_bytes()
}

fn quadratic_blowup() -> Vec<u8> {
    let big = "A".repeat(100_000);
    let refs = "&a;".repeat(20_000);
    format!("<?xml version='1.0'?><!DOCTYPE svg [<!ENTITY a \"{big}\">]><svg xmlns='http://www.w3.org/2000/svg' width='64' height='64'><text y='20'>{refs}</text></svg>")
        .into_bytes()
}

/// SVG that tries to expand, fetch, include, script or exhaust: `port` is a loopback listener that
/// must see no connection.
pub fn hostile_svgs(port: u16) -> Vec<(&'static str, Vec<u8>)> {
    let at = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let deep = format!("{}<rect width='1' height='1'/>{}", "<g>".repeat(20_000), "</g>".repeat(20_000));
    vec![
        ("/laughs.svg", billion_laughs()),
        ("/quadratic.svg", quadratic_blowup()),
        ("/image.svg", svg(&format!("<image href='{}' width='64' height='64'/><image xlink:href='{}' width='9' height='9'/>", at("/i.png"), at("/j.png")))),
        ("/file-image.svg", svg("<image href='file:///etc/passwd' width='64' height='64'/><image href='file:///dev/zero' width='9' height='9'/>")),
        ("/entity.svg", format!("<?xml version='1.0'?><!DOCTYPE svg [<!ENTITY x SYSTEM '{}'><!ENTITY y SYSTEM 'file:///etc/passwd'>]><svg xmlns='http://www.w3.org/2000/svg' width='64' height='64'><text y='20'>&x;&y;</text></svg>", at("/xxe")).into_bytes()),
        ("/use.svg", svg(&format!("<use href='{}#a'/>", at("/s.svg")))),
        ("/css.svg", svg(&format!("<style>@import url({}); rect {{ fill: url({}#p) }}</style><rect width='64' height='64'/>", at("/c.css"), at("/p.svg")))),
        ("/feimage.svg", svg(&format!("<filter id='f'><feImage href='{}'/></filter><rect width='64' height='64' filter='url(#f)'/>", at("/f.png")))),
        ("/font.svg", svg(&format!("<style>@font-face {{ font-family: x; src: url({}) }} text {{ font-family: x }}</style><text y='20'>hi</text>", at("/f.woff")))),
        ("/xinclude.svg", svg(&format!("<xi:include xmlns:xi='http://www.w3.org/2001/XInclude' href='{}'/>", at("/x")))),
        ("/script.svg", svg(&format!("<script>fetch('{}')</script><rect width='64' height='64' onload='alert(1)'/><a href='javascript:alert(1)'><text y='9'>x</text></a><foreignObject width='64' height='64'><iframe xmlns='http://www.w3.org/1999/xhtml' src='{}'/></foreignObject>", at("/s"), at("/if")))),
        ("/deep.svg", svg(&deep)),
        ("/blur.svg", svg("<filter id='b' x='-10' y='-10' width='20' height='20'><feGaussianBlur stdDeviation='100000'/></filter><rect width='64' height='64' filter='url(#b)'/>")),
    ]
}

/// A response head with 20 000 header lines (over 1 MiB).
pub fn header_flood() -> Vec<u8> {
    let mut out = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..20_000 {
        out.extend_from_slice(format!("X-Flood-{i}: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}
