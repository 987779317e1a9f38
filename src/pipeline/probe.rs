//! Probe: format, size and frame count from the header bytes only, before any pixel is decoded.
//!
//! The format comes from magic numbers, never from a file extension or `Content-Type` (SPEC §3, §6).
//! Sizes come from the container headers (JPEG SOFn, PNG IHDR/acTL, GIF screen and image descriptors,
//! WebP VP8/VP8L/VP8X/ANMF, AVIF/HEIF `ispe`, BMP/ICO/TIFF headers, SVG attributes), so the resolution
//! and frame limits (`check_limits`) are enforced while a bomb is still a few bytes. Every read is
//! bounds-checked: a short header is `Corrupt`, never a panic. This module must not decode pixels.

use std::ops::Range;

use crate::plan::{ImageFormat, Limits};

use super::{PipelineError, Probe};

/// What the probe learned beyond [`Probe`], for the decoder and the orientation step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceInfo {
    /// Format, size and frames.
    pub probe: Probe,
    /// JPEG: progressive (SOF2/6/10/14).
    pub progressive: bool,
    /// JPEG: an Adobe APP14 marker is present (CMYK data is stored inverted).
    pub adobe: bool,
    /// The header says there is an alpha channel (PNG colour type/tRNS, WebP flag, BMP 32-bit).
    pub has_alpha: bool,
    /// Byte range of the EXIF TIFF payload (JPEG APP1, WebP `EXIF` chunk).
    pub exif: Option<Range<usize>>,
    /// PNG: an interlace method other than none (IHDR byte 12; 1 is Adam7), or an IHDR too short to
    /// tell. Such a file is decoded whole, never streamed row by row (`png_stream.rs`).
    pub interlaced: bool,
}

impl SourceInfo {
    /// What a header of `format` and this size says when nothing else is known.
    pub fn new(format: ImageFormat, width: u32, height: u32) -> SourceInfo {
        SourceInfo {
            probe: Probe { format, width, height, frames: 1 },
            progressive: false,
            adobe: false,
            has_alpha: false,
            exif: None,
            interlaced: false,
        }
    }
}

/// The most chunks/blocks/segments a header walk visits; a hostile file cannot make a probe loop long.
const MAX_WALK: usize = 100_000;

/// Reads everything the pipeline needs from the header.
pub fn inspect(input: &[u8]) -> Result<SourceInfo, PipelineError> {
    let info = match input {
        [0xFF, 0xD8, 0xFF, ..] => jpeg(input)?,
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => png(input)?,
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => gif(input)?,
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => webp(input)?,
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => heif(input)?,
        [b'B', b'M', ..] => bmp(input)?,
        [0, 0, 1, 0, ..] => ico(input)?,
        [b'I', b'I', 42, 0, ..] => tiff(input, false)?,
        [b'M', b'M', 0, 42, ..] => tiff(input, true)?,
        _ => svg(input).ok_or(PipelineError::UnknownFormat)?,
    };
    if info.probe.width == 0 || info.probe.height == 0 {
        return Err(PipelineError::Corrupt("image has a zero dimension".into()));
    }
    Ok(info)
}

/// Refuses sources beyond the plan's limits, as imgproxy `security.CheckDimensions`: with several
/// frames and a per-frame limit, each frame is checked; otherwise width × height × frames-to-decode.
pub fn check_limits(p: &Probe, limits: &Limits) -> Result<(), PipelineError> {
    if p.format == ImageFormat::Svg {
        return Ok(()); // Vector sizes are nominal; the rasteriser is bounded by geometry instead.
    }
    let frames = u64::from(p.frames.min(limits.max_animation_frames.max(1)).max(1));
    let pixels = u64::from(p.width) * u64::from(p.height);
    if frames > 1 && limits.max_animation_frame_resolution > 0 {
        if pixels > limits.max_animation_frame_resolution {
            return Err(PipelineError::ResolutionTooBig(format!("frame of {}x{}", p.width, p.height)));
        }
    } else if limits.max_src_resolution > 0 && pixels * frames > limits.max_src_resolution {
        return Err(PipelineError::ResolutionTooBig(format!("{}x{}x{frames}", p.width, p.height)));
    }
    Ok(())
}

fn truncated() -> PipelineError {
    PipelineError::Corrupt("truncated header".into())
}

fn bytes<const N: usize>(b: &[u8], at: usize) -> Result<[u8; N], PipelineError> {
    b.get(at..at.checked_add(N).ok_or_else(truncated)?).and_then(|s| s.try_into().ok()).ok_or_else(truncated)
}

fn be16(b: &[u8], at: usize) -> Result<u16, PipelineError> {
    bytes::<2>(b, at).map(u16::from_be_bytes)
}

fn le16(b: &[u8], at: usize) -> Result<u16, PipelineError> {
    bytes::<2>(b, at).map(u16::from_le_bytes)
}

fn be32(b: &[u8], at: usize) -> Result<u32, PipelineError> {
    bytes::<4>(b, at).map(u32::from_be_bytes)
}

fn le32(b: &[u8], at: usize) -> Result<u32, PipelineError> {
    bytes::<4>(b, at).map(u32::from_le_bytes)
}

fn le24(b: &[u8], at: usize) -> Result<u32, PipelineError> {
    bytes::<3>(b, at).map(|[a, b, c]| u32::from_le_bytes([a, b, c, 0]))
}

fn byte(b: &[u8], at: usize) -> Result<u8, PipelineError> {
    b.get(at).copied().ok_or_else(truncated)
}

/// One JPEG marker segment: its marker byte and payload range (after the length field).
struct Segment {
    marker: u8,
    body: Range<usize>,
}

/// Walks JPEG marker segments from SOI up to (not including) the first SOS.
fn jpeg_segments(input: &[u8]) -> impl Iterator<Item = Result<Segment, PipelineError>> + '_ {
    let mut pos = 2usize;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let next = jpeg_next_segment(input, &mut pos);
        done = !matches!(next, Ok(ref s) if s.marker != 0xDA);
        Some(next)
    })
    .take(MAX_WALK)
}

fn jpeg_next_segment(input: &[u8], pos: &mut usize) -> Result<Segment, PipelineError> {
    loop {
        if byte(input, *pos)? != 0xFF {
            return Err(PipelineError::Corrupt("bad JPEG marker".into()));
        }
        // Any number of 0xFF fill bytes may precede a marker.
        while byte(input, *pos + 1)? == 0xFF {
            *pos += 1;
        }
        let marker = byte(input, *pos + 1)?;
        *pos += 2;
        match marker {
            0x01 | 0xD0..=0xD8 => continue, // standalone markers carry no length
            0xD9 => return Err(PipelineError::Corrupt("JPEG ends before its frame header".into())),
            _ => {}
        }
        let len = usize::from(be16(input, *pos)?);
        if len < 2 || *pos + len > input.len() {
            return Err(truncated());
        }
        let body = *pos + 2..*pos + len;
        *pos += len;
        return Ok(Segment { marker, body });
    }
}

fn jpeg(input: &[u8]) -> Result<SourceInfo, PipelineError> {
    let (mut exif, mut adobe) = (None, false);
    for seg in jpeg_segments(input) {
        let seg = seg?;
        let body = input.get(seg.body.clone()).ok_or_else(truncated)?;
        match seg.marker {
            0xE1 if body.starts_with(b"Exif\0\0") && exif.is_none() => exif = Some(seg.body.start + 6..seg.body.end),
            0xEE if body.starts_with(b"Adobe") => adobe = true,
            0xC0..=0xCF if !matches!(seg.marker, 0xC4 | 0xC8 | 0xCC) => {
                let mut info = jpeg_frame(body, seg.marker)?;
                info.exif = exif;
                info.adobe = adobe;
                return Ok(info);
            }
            0xDA => return Err(PipelineError::Corrupt("JPEG scan before its frame header".into())),
            _ => {}
        }
    }
    Err(truncated())
}

fn jpeg_frame(sof: &[u8], marker: u8) -> Result<SourceInfo, PipelineError> {
    let precision = byte(sof, 0)?;
    if precision != 8 {
        return Err(PipelineError::Unsupported(format!("{precision}-bit JPEG")));
    }
    let height = be16(sof, 1)?;
    let width = be16(sof, 3)?;
    let mut info = SourceInfo::new(ImageFormat::Jpeg, u32::from(width), u32::from(height));
    info.progressive = matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE);
    Ok(info)
}

fn png(input: &[u8]) -> Result<SourceInfo, PipelineError> {
    if bytes::<4>(input, 12)? != *b"IHDR" {
        return Err(PipelineError::Corrupt("PNG without IHDR".into()));
    }
    let (width, height) = (be32(input, 16)?, be32(input, 20)?);
    if width > i32::MAX as u32 || height > i32::MAX as u32 {
        return Err(PipelineError::Corrupt("PNG size out of range".into()));
    }
    let colour = byte(input, 25)?;
    let mut info = SourceInfo::new(ImageFormat::Png, width, height);
    info.has_alpha = matches!(colour, 4 | 6);
    // IHDR data starts at 16: width, height, depth, colour, compression, filter, then the interlace
    // method at 16 + 12. Unknown counts as interlaced: the memory budget then counts the whole frame.
    info.interlaced = byte(input, 28) != Ok(0);
    // Ancillary chunks that matter (acTL, tRNS) come before the first IDAT.
    let mut pos = 8usize;
    for _ in 0..MAX_WALK {
        let Ok(len) = be32(input, pos) else { break };
        let Ok(kind) = bytes::<4>(input, pos + 4) else { break };
        match &kind {
            b"IDAT" | b"IEND" => break,
            b"acTL" => info.probe.frames = be32(input, pos + 8)?.max(1),
            b"tRNS" => info.has_alpha = true,
            _ => {}
        }
        pos = pos.saturating_add(12).saturating_add(len as usize);
    }
    Ok(info)
}

fn gif(input: &[u8]) -> Result<SourceInfo, PipelineError> {
    let (sw, sh) = (le16(input, 6)?, le16(input, 8)?);
    let packed = byte(input, 10)?;
    let mut pos = 13 + colour_table_len(packed);
    let (mut width, mut height, mut frames) = (u32::from(sw), u32::from(sh), 0u32);
    for _ in 0..MAX_WALK {
        match input.get(pos) {
            Some(0x2C) => {
                // A frame may reach outside the logical screen; the decoder would allocate for it, so
                // the limit check must see it (edge/decompression_bomb.gif).
                let (left, top) = (u32::from(le16(input, pos + 1)?), u32::from(le16(input, pos + 3)?));
                let (fw, fh) = (u32::from(le16(input, pos + 5)?), u32::from(le16(input, pos + 7)?));
                width = width.max(left + fw);
                height = height.max(top + fh);
                frames += 1;
                let local = byte(input, pos + 9)?;
                pos += 10 + colour_table_len(local) + 1; // + LZW minimum code size
                                                         // A frame cut short still counts (browsers show partial GIFs); nothing follows it.
                let Ok(next) = skip_sub_blocks(input, pos) else { break };
                pos = next;
            }
            Some(0x21) => pos = skip_sub_blocks(input, pos + 2)?,
            Some(0x3B) | None => break,
            Some(_) => break, // junk after the last frame: browsers stop here too
        }
    }
    if frames == 0 {
        return Err(PipelineError::Corrupt("GIF without frames".into()));
    }
    let mut info = SourceInfo::new(ImageFormat::Gif, width, height);
    info.probe.frames = frames;
    info.has_alpha = true;
    Ok(info)
}

/// Bytes of the GIF colour table a logical screen or image descriptor's packed byte announces (0: none).
pub(super) fn colour_table_len(packed: u8) -> usize {
    if packed & 0x80 == 0 {
        0
    } else {
        3 << ((packed & 0x07) + 1)
    }
}

/// Skips GIF data sub-blocks up to and including the zero-length terminator.
fn skip_sub_blocks(input: &[u8], mut pos: usize) -> Result<usize, PipelineError> {
    loop {
        let len = usize::from(byte(input, pos)?);
        pos += 1 + len;
        if len == 0 {
            return Ok(pos);
        }
    }
}

/// Iterates RIFF chunks after the 12-byte WebP header: (fourcc, payload range).
fn riff_chunks(input: &[u8]) -> impl Iterator<Item = ([u8; 4], Range<usize>)> + '_ {
    let mut pos = 12usize;
    std::iter::from_fn(move || {
        let kind = bytes::<4>(input, pos).ok()?;
        let len = le32(input, pos + 4).ok()? as usize;
        let start = pos + 8;
        let end = start.checked_add(len)?.min(input.len());
        pos = start.checked_add(len)?.checked_add(len & 1)?;
        Some((kind, start..end))
    })
    .take(MAX_WALK)
}

fn webp(input: &[u8]) -> Result<SourceInfo, PipelineError> {
    let (kind, body) = riff_chunks(input).next().ok_or_else(truncated)?;
    let b = input.get(body.clone()).ok_or_else(truncated)?;
    let mut info = match &kind {
        b"VP8 " => {
            if bytes::<3>(b, 3)? != [0x9D, 0x01, 0x2A] {
                return Err(PipelineError::Corrupt("bad VP8 start code".into()));
            }
            let (w, h) = (le16(b, 6)? & 0x3FFF, le16(b, 8)? & 0x3FFF);
            SourceInfo::new(ImageFormat::Webp, u32::from(w), u32::from(h))
        }
        b"VP8L" => {
            if byte(b, 0)? != 0x2F {
                return Err(PipelineError::Corrupt("bad VP8L signature".into()));
            }
            let bits = le32(b, 1)?;
            let mut i = SourceInfo::new(ImageFormat::Webp, (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1);
            i.has_alpha = bits >> 28 & 1 == 1;
            i
        }
        b"VP8X" => webp_extended(input, b)?,
        _ => return Err(PipelineError::Corrupt("unknown WebP chunk".into())),
    };
    if info.exif.is_none() && kind == *b"VP8X" {
        info.exif = riff_chunks(input).find(|(k, _)| k == b"EXIF").map(|(_, r)| r);
    }
    Ok(info)
}

fn webp_extended(input: &[u8], b: &[u8]) -> Result<SourceInfo, PipelineError> {
    let flags = byte(b, 0)?;
    let (w, h) = (le24(b, 4)? + 1, le24(b, 7)? + 1);
    let mut info = SourceInfo::new(ImageFormat::Webp, w, h);
    info.has_alpha = flags & 0x10 != 0;
    if flags & 0x02 != 0 {
        let frames = riff_chunks(input).filter(|(k, _)| k == b"ANMF").count();
        info.probe.frames = u32::try_from(frames).unwrap_or(u32::MAX).max(1);
    }
    Ok(info)
}

/// ISO-BMFF boxes inside `range`: (type, payload range).
fn boxes(input: &[u8], range: Range<usize>) -> impl Iterator<Item = ([u8; 4], Range<usize>)> + '_ {
    let mut pos = range.start;
    let end = range.end.min(input.len());
    std::iter::from_fn(move || {
        if pos + 8 > end {
            return None;
        }
        let size = be32(input, pos).ok()? as usize;
        let kind = bytes::<4>(input, pos + 4).ok()?;
        let (header, size) = match size {
            0 => (8, end - pos),
            1 => (16, usize::try_from(u64::from_be_bytes(bytes::<8>(input, pos + 8).ok()?)).ok()?),
            n => (8, n),
        };
        if size < header {
            return None;
        }
        let body = pos + header..pos.checked_add(size)?.min(end);
        pos = pos.checked_add(size)?;
        Some((kind, body))
    })
    .take(MAX_WALK)
}

fn heif(input: &[u8]) -> Result<SourceInfo, PipelineError> {
    let (_, ftyp) = boxes(input, 0..input.len()).next().ok_or_else(truncated)?;
    let brands: Vec<[u8; 4]> = input
        .get(ftyp)
        .unwrap_or(&[])
        .chunks_exact(4)
        .enumerate()
        .filter(|(i, _)| *i != 1) // skip minor_version
        .filter_map(|(_, b)| b.try_into().ok())
        .collect();
    let has = |names: &[&[u8; 4]]| brands.iter().any(|b| names.contains(&b));
    let format = if has(&[b"avif", b"avis"]) {
        ImageFormat::Avif
    } else if has(&[b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"]) {
        ImageFormat::Heic
    } else {
        return Err(PipelineError::UnknownFormat);
    };
    let (w, h) = largest_ispe(input).ok_or_else(|| PipelineError::Corrupt("no ispe box".into()))?;
    let mut info = SourceInfo::new(format, w, h);
    info.has_alpha = format == ImageFormat::Avif && super::avif_container::has_alpha(input);
    Ok(info)
}

/// The largest `ispe` (image spatial extents) under `meta/iprp/ipco`; a grid's full size beats its tiles.
fn largest_ispe(input: &[u8]) -> Option<(u32, u32)> {
    let child = |range: Range<usize>, name: &[u8; 4]| boxes(input, range).find(|(k, _)| k == name).map(|(_, r)| r);
    let meta = child(0..input.len(), b"meta")?;
    let iprp = child(meta.start + 4..meta.end, b"iprp")?; // meta is a full box: skip version/flags
    let ipco = child(iprp, b"ipco")?;
    boxes(input, ipco)
        .filter(|(k, _)| k == b"ispe")
        .filter_map(|(_, r)| Some((be32(input, r.start + 4).ok()?, be32(input, r.start + 8).ok()?)))
        .max_by_key(|(w, h)| u64::from(*w) * u64::from(*h))
}

fn bmp(input: &[u8]) -> Result<SourceInfo, PipelineError> {
    let dib = le32(input, 14)?;
    let (w, h) = if dib == 12 {
        (u32::from(le16(input, 18)?), u32::from(le16(input, 20)?))
    } else {
        let w = le32(input, 18)? as i32;
        let h = le32(input, 22)? as i32; // negative height = top-down rows
        (w.unsigned_abs(), h.unsigned_abs())
    };
    let mut info = SourceInfo::new(ImageFormat::Bmp, w, h);
    info.has_alpha = dib >= 40 && le16(input, 28)? == 32;
    Ok(info)
}

fn ico(input: &[u8]) -> Result<SourceInfo, PipelineError> {
    let count = usize::from(le16(input, 4)?);
    if count == 0 {
        return Err(PipelineError::Corrupt("icon without images".into()));
    }
    let mut best = (0u32, 0u32);
    for i in 0..count {
        let at = 6 + 16 * i;
        // A stored 0 means 256.
        let side = |v: u8| if v == 0 { 256 } else { u32::from(v) };
        let listed = (side(byte(input, at)?), side(byte(input, at + 1)?));
        // The directory's one-byte sizes can lie: the embedded image's own header is what a decoder
        // allocates for, so a 30000² PNG inside an icon is a bomb like any other (fuzzing, issue 8).
        let (w, h) = ico_embedded_size(input, at).unwrap_or(listed);
        if u64::from(w) * u64::from(h) > u64::from(best.0) * u64::from(best.1) {
            best = (w, h);
        }
    }
    let mut info = SourceInfo::new(ImageFormat::Ico, best.0, best.1);
    info.has_alpha = true;
    Ok(info)
}

/// Size from the header of the image an icon entry points at: PNG's IHDR or the BMP DIB header
/// (whose height counts the AND mask too, so it is halved).
fn ico_embedded_size(input: &[u8], entry: usize) -> Option<(u32, u32)> {
    let offset = usize::try_from(le32(input, entry + 12).ok()?).ok()?;
    let data = input.get(offset..)?;
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some((be32(data, 16).ok()?, be32(data, 20).ok()?));
    }
    let width = le32(data, 4).ok()? as i32;
    let height = le32(data, 8).ok()? as i32;
    Some((width.unsigned_abs(), height.unsigned_abs() / 2))
}

fn tiff(input: &[u8], big_endian: bool) -> Result<SourceInfo, PipelineError> {
    let u16_at = |at| if big_endian { be16(input, at) } else { le16(input, at) };
    let u32_at = |at| if big_endian { be32(input, at) } else { le32(input, at) };
    let ifd = u32_at(4)? as usize;
    let entries = usize::from(u16_at(ifd)?);
    let (mut width, mut height) = (None, None);
    for i in 0..entries {
        let at = ifd + 2 + 12 * i;
        let (tag, kind) = (u16_at(at)?, u16_at(at + 2)?);
        let value = match kind {
            3 => u32::from(u16_at(at + 8)?),
            4 => u32_at(at + 8)?,
            _ => continue,
        };
        match tag {
            256 => width = Some(value),
            257 => height = Some(value),
            _ => {}
        }
    }
    match (width, height) {
        (Some(w), Some(h)) => Ok(SourceInfo::new(ImageFormat::Tiff, w, h)),
        _ => Err(PipelineError::Corrupt("TIFF without size".into())),
    }
}

/// Recognises SVG text (optionally after a BOM, XML declaration, comments or doctype) and reads its
/// nominal size from `width`/`height`, else `viewBox`, else the browser default 300×150.
fn svg(input: &[u8]) -> Option<SourceInfo> {
    let head = input.get(..input.len().min(64 * 1024))?;
    let text = String::from_utf8_lossy(head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head));
    let trimmed = text.trim_start();
    let lower = trimmed.to_ascii_lowercase();
    if !["<?xml", "<!--", "<!doctype", "<svg"].iter().any(|p| lower.starts_with(p)) {
        return None;
    }
    let start = lower.find("<svg")?;
    let tag_end = lower.get(start..)?.find('>').map_or(lower.len(), |e| start + e);
    let tag = trimmed.get(start..tag_end)?;
    let (w, h) = svg_size(tag);
    Some(SourceInfo::new(ImageFormat::Svg, w, h))
}

fn svg_size(tag: &str) -> (u32, u32) {
    let number = |name: &str| attr(tag, name).and_then(|v| leading_number(&v)).filter(|n| *n > 0.0);
    let view_box: Vec<f64> = attr(tag, "viewBox")
        .map(|v| v.split([' ', ',']).filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_default();
    let (vw, vh) = match view_box.as_slice() {
        [_, _, w, h] if *w > 0.0 && *h > 0.0 => (Some(*w), Some(*h)),
        _ => (None, None),
    };
    let w = number("width").or(vw).unwrap_or(300.0);
    let h = number("height").or(vh).unwrap_or(150.0);
    ((w.round() as u32).max(1), (h.round() as u32).max(1))
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let mut rest = tag;
    while let Some(i) = rest.find(name) {
        let before_ok = rest.get(..i).is_some_and(|b| b.ends_with(|c: char| c.is_whitespace()));
        let after = rest.get(i + name.len()..)?.trim_start();
        if before_ok {
            if let Some(v) = after.strip_prefix('=') {
                let v = v.trim_start();
                let quote = v.chars().next().filter(|c| *c == '"' || *c == '\'')?;
                let body = v.get(1..)?;
                return body.find(quote).and_then(|e| body.get(..e)).map(str::to_string);
            }
        }
        rest = rest.get(i + name.len()..)?;
    }
    None
}

/// `"120px"` → 120; percentages and other relative units do not give a size.
fn leading_number(v: &str) -> Option<f64> {
    let v = v.trim();
    let end = v.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(v.len());
    let unit = v.get(end..)?.trim();
    if !unit.is_empty() && unit != "px" {
        return None;
    }
    v.get(..end)?.parse().ok()
}

/// The EXIF TIFF payload recorded by [`inspect`], with WebP's optional `Exif\0\0` prefix removed.
pub fn exif_payload<'a>(input: &'a [u8], info: &SourceInfo) -> Option<&'a [u8]> {
    let p = input.get(info.exif.clone()?)?;
    Some(p.strip_prefix(b"Exif\0\0").unwrap_or(p))
}

#[cfg(test)]
#[path = "probe_tests.rs"]
mod tests;
