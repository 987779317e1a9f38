//! Our own JPEG decoder for the thumbnail case: baseline Huffman, 8-bit, grey or YCbCr (4:4:4, 4:2:2,
//! 4:2:0, 4:4:0), with or without restart markers, straight to 1/2, 1/4 or 1/8 scale.
//!
//! Why: on a 12 MP photo → 800 px, three quarters of the time is entropy decoding (issue 3, "beating
//! libvips"), which libjpeg-turbo does one symbol and one extra-bits read at a time into zeroed blocks
//! that a separate IDCT then reduces. Here the scan is unstuffed once ([`bits`]), each coefficient is
//! one table lookup ([`huffman`]) and is multiplied straight into the scaled samples ([`idct`]), and
//! the planes come out at the output size, so colour conversion is the only pass left.
//! Scope is deliberately narrow: whatever [`markers::parse`] does not accept, and any error in the
//! data, returns `None`, and `decode.rs` falls back to libjpeg-turbo, so an image is never lost.
//! This module knows nothing of geometry, orientation or colour profiles.

mod bits;
mod huffman;
mod idct;
mod markers;

use super::raster::Raster;
use bits::Bits;
use huffman::Table;
use markers::Header;

/// Scaled IDCT weights of one component, by output block size (`N` = samples per block).
enum Kernel {
    K1(Box<[[f32; 1]; 64]>),
    K2(Box<[[f32; 2]; 64]>),
    K4(Box<[[f32; 4]; 64]>),
    K8(Box<[[f32; 8]; 64]>),
    K16(Box<[[f32; 16]; 64]>),
    K32(Box<[[f32; 32]; 64]>),
    K64(Box<[[f32; 64]; 64]>),
}

/// One scan component with everything its blocks need.
struct Comp {
    dc: Table,
    ac: Table,
    kernel: Kernel,
    /// Blocks per MCU horizontally and vertically.
    h: usize,
    v: usize,
    /// Output samples per block horizontally and vertically.
    nx: usize,
    ny: usize,
    /// The component's output plane (same size for every component).
    plane: Vec<u8>,
}

/// Decodes `input` at scale 1/`shrink` (2, 4 or 8) to RGB; `None` when the file is not in scope,
/// does not match the probed `width × height`, or its data is corrupt (the caller falls back).
pub fn decode(input: &[u8], width: u32, height: u32, shrink: usize) -> Option<Raster> {
    if !matches!(shrink, 2 | 4 | 8) {
        return None;
    }
    let header = markers::parse(input)?;
    if (header.width, header.height) != (width as usize, height as usize) {
        return None;
    }
    let grey = header.components.len() == 1;
    let first = header.components.first()?;
    let (hmax, vmax) = if grey { (1, 1) } else { (first.h, first.v) };
    let (mcus_x, mcus_y) = (header.width.div_ceil(8 * hmax), header.height.div_ceil(8 * vmax));
    let (plane_w, plane_h) = (mcus_x * 8 * hmax / shrink, mcus_y * 8 * vmax / shrink);
    let mut comps = header
        .components
        .iter()
        .map(|c| {
            let (h, v) = if grey { (1, 1) } else { (c.h, c.v) };
            let (nx, ny) = (8 * hmax / (h * shrink), 8 * vmax / (v * shrink));
            let kernel = kernel(header.quant[c.tq].as_ref()?, nx, ny)?;
            let dc = Table::new(header.dc[c.td].as_ref()?, true)?;
            let ac = Table::new(header.ac[c.ta].as_ref()?, false)?;
            Some(Comp { dc, ac, kernel, h, v, nx, ny, plane: vec![0; plane_w * plane_h] })
        })
        .collect::<Option<Vec<_>>>()?;
    let entropy = bits::unstuff(input.get(header.scan_start..)?);
    decode_scan(&header, &entropy, &mut comps, (mcus_x, mcus_y), plane_w).ok()?;
    let (out_w, out_h) = (header.width.div_ceil(shrink), header.height.div_ceil(shrink));
    let data = to_rgb(&comps, plane_w, out_w, out_h)?;
    Some(Raster { width: u32::try_from(out_w).ok()?, height: u32::try_from(out_h).ok()?, alpha: false, data })
}

fn kernel(q: &[u16; 64], nx: usize, ny: usize) -> Option<Kernel> {
    Some(match nx * ny {
        1 => Kernel::K1(idct::weights(q, nx, ny)),
        2 => Kernel::K2(idct::weights(q, nx, ny)),
        4 => Kernel::K4(idct::weights(q, nx, ny)),
        8 => Kernel::K8(idct::weights(q, nx, ny)),
        16 => Kernel::K16(idct::weights(q, nx, ny)),
        32 => Kernel::K32(idct::weights(q, nx, ny)),
        64 => Kernel::K64(idct::weights(q, nx, ny)),
        _ => return None,
    })
}

/// Decodes every MCU, restart segment by restart segment.
fn decode_scan(
    header: &Header,
    entropy: &bits::Entropy,
    comps: &mut [Comp],
    (mcus_x, mcus_y): (usize, usize),
    stride: usize,
) -> Result<(), ()> {
    let total = mcus_x * mcus_y;
    let interval = if header.restart_interval > 0 { header.restart_interval } else { total };
    let needed = total.div_ceil(interval);
    // Extra segments are tolerated only when empty (a stray RSTn before EOI).
    if entropy.segments.len() < needed || entropy.segments.iter().skip(needed).any(|s| !s.is_empty()) {
        return Err(());
    }
    let mut bits = Bits::new(&entropy.data);
    for (segment, first) in entropy.segments.iter().zip((0..total).step_by(interval)) {
        bits.seek(segment.start);
        let mut preds = [0i32; 3];
        for mcu in first..(first + interval).min(total) {
            let (mx, my) = (mcu % mcus_x, mcu / mcus_x);
            for (comp, pred) in comps.iter_mut().zip(preds.iter_mut()) {
                for by in 0..comp.v {
                    for bx in 0..comp.h {
                        let x = (mx * comp.h + bx) * comp.nx;
                        let y = (my * comp.v + by) * comp.ny;
                        decode_block(&mut bits, comp, pred, x + y * stride, stride)?;
                    }
                }
            }
        }
        if bits.overran(segment.end) {
            return Err(());
        }
    }
    Ok(())
}

/// Decodes one block of `comp` and stores its samples at `at` in its plane.
#[inline(always)]
fn decode_block(bits: &mut Bits, comp: &mut Comp, pred: &mut i32, at: usize, stride: usize) -> Result<(), ()> {
    let Comp { dc, ac, kernel, nx, plane, .. } = comp;
    match kernel {
        Kernel::K1(w) => store(plane, at, stride, *nx, &huffman::block(bits, dc, ac, pred, w)?),
        Kernel::K2(w) => store(plane, at, stride, *nx, &huffman::block(bits, dc, ac, pred, w)?),
        Kernel::K4(w) => store(plane, at, stride, *nx, &huffman::block(bits, dc, ac, pred, w)?),
        Kernel::K8(w) => store(plane, at, stride, *nx, &huffman::block(bits, dc, ac, pred, w)?),
        Kernel::K16(w) => store(plane, at, stride, *nx, &huffman::block(bits, dc, ac, pred, w)?),
        Kernel::K32(w) => store(plane, at, stride, *nx, &huffman::block(bits, dc, ac, pred, w)?),
        Kernel::K64(w) => store(plane, at, stride, *nx, &huffman::block(bits, dc, ac, pred, w)?),
    }
    Ok(())
}

/// Writes a block's samples (rows of `nx`, already offset by ½) as clamped bytes.
#[inline(always)]
fn store<const N: usize>(plane: &mut [u8], at: usize, stride: usize, nx: usize, samples: &[f32; N]) {
    for (row, chunk) in samples.chunks_exact(nx.max(1)).enumerate() {
        let start = at + row * stride;
        if let Some(dst) = plane.get_mut(start..start + chunk.len()) {
            for (d, &s) in dst.iter_mut().zip(chunk) {
                *d = s.clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// Crops the planes to `out_w × out_h` and converts to interleaved RGB (JFIF YCbCr, libjpeg's
/// 16-bit fixed-point constants); grey is replicated.
fn to_rgb(comps: &[Comp], stride: usize, out_w: usize, out_h: usize) -> Option<Vec<u8>> {
    let mut out = vec![0u8; out_w * out_h * 3];
    let rows = out.chunks_exact_mut(out_w * 3).take(out_h);
    match comps {
        [y] => {
            for (dst, src) in rows.zip(y.plane.chunks(stride)) {
                for (px, &l) in dst.chunks_exact_mut(3).zip(src) {
                    px.fill(l);
                }
            }
        }
        [y, cb, cr] => {
            let planes = y.plane.chunks(stride).zip(cb.plane.chunks(stride)).zip(cr.plane.chunks(stride));
            for (dst, ((ys, bs), rs)) in rows.zip(planes) {
                ycc_row(dst, ys, bs, rs);
            }
        }
        _ => return None,
    }
    Some(out)
}

#[inline(always)]
fn ycc_row(dst: &mut [u8], ys: &[u8], bs: &[u8], rs: &[u8]) {
    const HALF: i32 = 1 << 15;
    for (px, ((&y, &b), &r)) in dst.chunks_exact_mut(3).zip(ys.iter().zip(bs).zip(rs)) {
        let (y, b, r) = (i32::from(y), i32::from(b) - 128, i32::from(r) - 128);
        let red = y + ((91_881 * r + HALF) >> 16);
        let green = y + ((-22_554 * b - 46_802 * r + HALF) >> 16);
        let blue = y + ((116_130 * b + HALF) >> 16);
        px[0] = red.clamp(0, 255) as u8;
        px[1] = green.clamp(0, 255) as u8;
        px[2] = blue.clamp(0, 255) as u8;
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
