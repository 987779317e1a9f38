//! JPEG header parsing for the scaled decoder: SOI, DQT, DHT, SOF0/SOF1, DRI, SOS, APP14 (Adobe).
//!
//! It accepts only what [`super`] can decode exactly: one baseline/extended-sequential Huffman frame of
//! 8-bit samples, one component (grey) or three (YCbCr 4:4:4, 4:2:2, 4:2:0, 4:4:0) in one interleaved
//! scan. Anything else (progressive, arithmetic, lossless, 12-bit, CMYK, an Adobe "RGB" transform, odd
//! sampling, a scan that does not carry every component) is `None`: "not mine", and the caller falls back
//! to libjpeg-turbo. Every length and index comes from the file, so every read is checked. It knows
//! nothing of Huffman decoding or pixels.

/// One frame component as the SOF and SOS declare it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Component {
    /// Component identifier (matched between SOF and SOS).
    pub id: u8,
    /// Horizontal sampling factor (1 or 2).
    pub h: usize,
    /// Vertical sampling factor (1 or 2).
    pub v: usize,
    /// Quantisation table slot (0–3).
    pub tq: usize,
    /// DC Huffman table slot (0–3), from the SOS.
    pub td: usize,
    /// AC Huffman table slot (0–3), from the SOS.
    pub ta: usize,
}

/// A Huffman table as DHT stores it: code counts per length 1–16, then the symbols.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HuffSpec {
    /// Number of codes of each length 1..=16.
    pub counts: [u8; 16],
    /// Symbols in code order.
    pub symbols: Vec<u8>,
}

/// Everything the scan decoder needs, up to the first byte of entropy-coded data.
#[derive(Clone, Debug, Default)]
pub struct Header {
    /// Image width in pixels.
    pub width: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Components in scan order (the SOS order, which is also the MCU block order).
    pub components: Vec<Component>,
    /// Quantisation tables, zig-zag order, by slot.
    pub quant: [Option<[u16; 64]>; 4],
    /// DC Huffman tables by slot.
    pub dc: [Option<HuffSpec>; 4],
    /// AC Huffman tables by slot.
    pub ac: [Option<HuffSpec>; 4],
    /// Restart interval in MCUs (0: none).
    pub restart_interval: usize,
    /// Offset of the first entropy-coded byte (just after the SOS segment).
    pub scan_start: usize,
    /// The Adobe APP14 colour transform, when the marker is present.
    pub adobe_transform: Option<u8>,
}

/// The most marker segments read before the scan: a hostile file cannot make the walk long.
const MAX_SEGMENTS: usize = 4096;

/// Parses the header of `data` up to the first scan; `None` when the file is not one we decode.
pub fn parse(data: &[u8]) -> Option<Header> {
    if data.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut h = Header::default();
    let mut pos = 2;
    let mut frame: Option<Vec<Component>> = None;
    for _ in 0..MAX_SEGMENTS {
        // Fill bytes (0xFF repeated) may precede a marker code.
        while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        if *data.get(pos)? != 0xFF {
            return None;
        }
        let marker = *data.get(pos + 1)?;
        let len = usize::from(u16::from_be_bytes([*data.get(pos + 2)?, *data.get(pos + 3)?]));
        let body = data.get(pos + 4..(pos + 2).checked_add(len)?)?;
        if len < 2 {
            return None;
        }
        match marker {
            0xC0 | 0xC1 => frame = Some(parse_sof(body, &mut h)?),
            0xC4 => parse_dht(body, &mut h)?,
            0xDB => parse_dqt(body, &mut h)?,
            0xDD => h.restart_interval = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?])),
            0xEE => h.adobe_transform = adobe_transform(body).or(h.adobe_transform),
            0xDA => {
                h.components = parse_sos(body, frame.as_deref()?)?;
                h.scan_start = pos + 2 + len;
                return check_tables(h);
            }
            // APPn and COM carry nothing the decode needs.
            0xE0..=0xEF | 0xFE => {}
            // Every other SOF (progressive, lossless, arithmetic, hierarchical), DNL, DAC, EOI early...
            _ => return None,
        }
        pos += 2 + len;
    }
    None
}

fn parse_sof(body: &[u8], h: &mut Header) -> Option<Vec<Component>> {
    let [precision, hh, hl, wh, wl, n, rest @ ..] = body else { return None };
    if *precision != 8 {
        return None;
    }
    h.height = usize::from(u16::from_be_bytes([*hh, *hl]));
    h.width = usize::from(u16::from_be_bytes([*wh, *wl]));
    if h.width == 0 || h.height == 0 || !matches!(n, 1 | 3) || rest.len() != 3 * usize::from(*n) {
        return None;
    }
    let comps: Vec<Component> = rest
        .chunks_exact(3)
        .map(|c| Component {
            id: c[0],
            h: usize::from(c[1] >> 4),
            v: usize::from(c[1] & 15),
            tq: usize::from(c[2]),
            td: 0,
            ta: 0,
        })
        .collect();
    if comps.iter().any(|c| c.tq > 3 || !(1..=4).contains(&c.h) || !(1..=4).contains(&c.v)) {
        return None;
    }
    if comps.len() == 3 {
        // libjpeg reads component ids R, G, B as an RGB image: not YCbCr, not ours.
        let ids: Vec<u8> = comps.iter().map(|c| c.id).collect();
        let chroma_ok = comps[1..].iter().all(|c| c.h == 1 && c.v == 1);
        if ids == b"RGB" || !chroma_ok || !matches!((comps[0].h, comps[0].v), (1, 1) | (2, 1) | (1, 2) | (2, 2)) {
            return None;
        }
    }
    Some(comps)
}

fn parse_sos(body: &[u8], frame: &[Component]) -> Option<Vec<Component>> {
    let (&n, rest) = body.split_first()?;
    let n = usize::from(n);
    // Ss = 0, Se = 63, Ah = Al = 0: a sequential scan, and it must carry every frame component.
    if n != frame.len() || rest.len() != 2 * n + 3 || rest.get(2 * n..)? != [0, 63, 0] {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    for pair in rest.get(..2 * n)?.chunks_exact(2) {
        let mut c = *frame.iter().find(|c| c.id == pair[0])?;
        if out.iter().any(|o: &Component| o.id == c.id) {
            return None;
        }
        (c.td, c.ta) = (usize::from(pair[1] >> 4), usize::from(pair[1] & 15));
        if c.td > 3 || c.ta > 3 {
            return None;
        }
        out.push(c);
    }
    Some(out)
}

fn parse_dqt(mut body: &[u8], h: &mut Header) -> Option<()> {
    while let Some((&pt, rest)) = body.split_first() {
        let (precision, slot) = (pt >> 4, usize::from(pt & 15));
        let size = if precision == 0 { 64 } else { 128 };
        if precision > 1 || slot > 3 {
            return None;
        }
        let table = rest.get(..size)?;
        let mut q = [0u16; 64];
        for (k, v) in q.iter_mut().enumerate() {
            *v = if precision == 0 {
                u16::from(*table.get(k)?)
            } else {
                u16::from_be_bytes([*table.get(2 * k)?, *table.get(2 * k + 1)?])
            };
        }
        h.quant[slot] = Some(q);
        body = rest.get(size..)?;
    }
    Some(())
}

fn parse_dht(mut body: &[u8], h: &mut Header) -> Option<()> {
    while let Some((&tc, rest)) = body.split_first() {
        let (class, slot) = (tc >> 4, usize::from(tc & 15));
        if class > 1 || slot > 3 {
            return None;
        }
        let counts: [u8; 16] = rest.get(..16)?.try_into().ok()?;
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        if total > 256 {
            return None;
        }
        let symbols = rest.get(16..16 + total)?.to_vec();
        let spec = Some(HuffSpec { counts, symbols });
        if class == 0 {
            h.dc[slot] = spec;
        } else {
            h.ac[slot] = spec;
        }
        body = rest.get(16 + total..)?;
    }
    Some(())
}

/// The colour transform byte of an Adobe APP14 segment (`None` when the segment is not Adobe's).
fn adobe_transform(body: &[u8]) -> Option<u8> {
    match body {
        [b'A', b'd', b'o', b'b', b'e', _, _, _, _, _, _, t, ..] => Some(*t),
        _ => None,
    }
}

/// Every table the scan names must exist before the scan starts; Adobe transform 0 on three components
/// means RGB (not YCbCr), which we leave to libjpeg-turbo.
fn check_tables(h: Header) -> Option<Header> {
    let ok = h.components.iter().all(|c| h.quant[c.tq].is_some() && h.dc[c.td].is_some() && h.ac[c.ta].is_some());
    let rgb = h.components.len() == 3 && h.adobe_transform == Some(0);
    (ok && !rgb).then_some(h)
}
