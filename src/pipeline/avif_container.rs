//! AVIF container (ISO-BMFF / HEIF `meta`): finds the primary item's AV1 payload, its alpha auxiliary
//! item, and the properties that say how to show them (`colr`, `irot`, `imir`; the probe reads `ispe`).
//!
//! Our own reader rather than a crate: AVIF stills need seven boxes of `meta` (`pitm`, `iloc`, `iinf`,
//! `iref`, `iprp/ipco`, `ipma`, `idat`), and owning them lets every read be bounds-checked against the
//! input (a hostile header is `Corrupt`, never a panic or a large allocation: payloads are borrowed, and
//! copied only when an item is split over several extents, which cannot exceed the input). Grid items
//! (tiled phone photos) come out as their tiles; an image sequence (`avis`) without a still primary item
//! is refused as `Unsupported`. This module knows nothing of AV1 or of pixels.

use std::borrow::Cow;
use std::ops::Range;

use super::PipelineError;

/// The most boxes, items or property associations one walk visits (a hostile file cannot loop long).
const MAX_ENTRIES: usize = 4096;

/// The `auxC` types that mark an alpha plane (AVIF spec §4, and the HEVC one libheif writes).
const ALPHA_URNS: [&[u8]; 2] = [b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha", b"urn:mpeg:hevc:2015:auxid:1"];

/// CICP colour description from an `nclx` `colr` box (ITU-T H.273 code points).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nclx {
    /// Colour primaries (1 = BT.709/sRGB).
    pub primaries: u16,
    /// Transfer characteristics (13 = sRGB).
    pub transfer: u16,
    /// Matrix coefficients (1 = BT.709, 5/6 = BT.601, 0 = identity/GBR).
    pub matrix: u16,
    /// Full range (0–255 at 8 bits) rather than limited (16–235).
    pub full_range: bool,
}

/// What the decoder needs from the container.
#[derive(Clone, Debug)]
pub struct AvifItems<'a> {
    /// The primary image.
    pub color: Av1Image<'a>,
    /// The alpha auxiliary image, if any.
    pub alpha: Option<Av1Image<'a>>,
    /// The primary item's `nclx` colour description, if any (else the AV1 sequence header's).
    pub nclx: Option<Nclx>,
    /// The primary item's ICC profile (`colr` of type `prof` or `rICC`), if any.
    pub icc: Option<&'a [u8]>,
    /// `irot` and `imir`, in the order the item lists them.
    pub transforms: Vec<Transform>,
    /// The colour is premultiplied by the alpha (a `prem` reference from the colour to the alpha item).
    pub premultiplied: bool,
}

/// An image item: one AV1 frame, or a grid of them (HEIF `grid` derived item).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Av1Image<'a> {
    /// One coded frame's OBUs.
    Single(Cow<'a, [u8]>),
    /// Tiles of equal size, row by row, cropped to `width`×`height` (HEIF §6.6.2.3).
    Grid {
        /// Tiles per row.
        columns: u32,
        /// Output width.
        width: u32,
        /// Output height.
        height: u32,
        /// Each tile's OBUs, row-major.
        tiles: Vec<Cow<'a, [u8]>>,
    },
}

/// A transformative property of the primary item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transform {
    /// `irot`: anticlockwise rotation in quarter turns (0–3).
    Rotate(u8),
    /// `imir`: 0 mirrors about a vertical axis (left↔right), 1 about a horizontal axis (top↔bottom).
    Mirror(u8),
}

fn corrupt(what: &str) -> PipelineError {
    PipelineError::Corrupt(format!("AVIF: {what}"))
}

/// A bounds-checked big-endian reader over one box payload.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Self {
        Reader { b, at: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PipelineError> {
        let s = self.at.checked_add(n).and_then(|end| self.b.get(self.at..end)).ok_or_else(|| corrupt("short box"))?;
        self.at += n;
        Ok(s)
    }

    /// An unsigned big-endian integer of `n` bytes (0, 1, 2, 4 or 8; 0 reads as 0).
    fn uint(&mut self, n: usize) -> Result<u64, PipelineError> {
        if n > 8 {
            return Err(corrupt("field too wide"));
        }
        Ok(self.take(n)?.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn u8(&mut self) -> Result<u8, PipelineError> {
        Ok(self.uint(1)? as u8)
    }

    fn u16(&mut self) -> Result<u16, PipelineError> {
        Ok(self.uint(2)? as u16)
    }

    fn u32(&mut self) -> Result<u32, PipelineError> {
        Ok(self.uint(4)? as u32)
    }

    /// A full box's version (the flags are returned too).
    fn full(&mut self) -> Result<(u8, u32), PipelineError> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0x00FF_FFFF))
    }

    fn rest(&self) -> &'a [u8] {
        self.b.get(self.at..).unwrap_or(&[])
    }
}

/// The child boxes of `b`: (type, payload).
fn boxes(b: &[u8]) -> impl Iterator<Item = Result<([u8; 4], &[u8]), PipelineError>> + '_ {
    let mut r = Reader::new(b);
    std::iter::from_fn(move || {
        if r.rest().is_empty() {
            return None;
        }
        Some(next_box(&mut r))
    })
    .take(MAX_ENTRIES)
}

fn next_box<'a>(r: &mut Reader<'a>) -> Result<([u8; 4], &'a [u8]), PipelineError> {
    let size = r.u32()?;
    let kind: [u8; 4] = r.take(4)?.try_into().map_err(|_| corrupt("box type"))?;
    let body_len = match size {
        0 => Some(r.rest().len()),
        1 => usize::try_from(r.uint(8)?).map_err(|_| corrupt("box size"))?.checked_sub(16),
        n => (n as usize).checked_sub(8),
    };
    let body_len = body_len.ok_or_else(|| corrupt("box size"))?;
    Ok((kind, r.take(body_len)?))
}

fn child<'a>(b: &'a [u8], kind: &[u8; 4]) -> Result<Option<&'a [u8]>, PipelineError> {
    for bx in boxes(b) {
        let (k, body) = bx?;
        if &k == kind {
            return Ok(Some(body));
        }
    }
    Ok(None)
}

/// One `iloc` entry: where an item's bytes are.
#[derive(Debug, Default, Clone)]
struct Location {
    id: u32,
    in_idat: bool,
    extents: Vec<Range<u64>>,
}

/// An item's type from `iinf`, and the references from `iref` we care about.
#[derive(Debug, Default)]
struct Meta<'a> {
    primary: u32,
    locations: Vec<Location>,
    types: Vec<(u32, [u8; 4])>,
    /// (type, from, to) of `iref` references, in file order (`auxl`: `from` is an auxiliary image of
    /// `to`; `dimg`: `to` is an input of the derived image `from`).
    refs: Vec<([u8; 4], u32, u32)>,
    properties: Vec<([u8; 4], &'a [u8])>,
    /// (item, 1-based property indices).
    associations: Vec<(u32, Vec<u16>)>,
    idat: &'a [u8],
}

/// Parses the container and borrows the primary image's payloads from `input`.
pub fn parse(input: &[u8]) -> Result<AvifItems<'_>, PipelineError> {
    let meta_box = child(input, b"meta")?
        .ok_or_else(|| PipelineError::Unsupported("AVIF without a still image (image sequence only)".into()))?;
    let meta = parse_meta(meta_box)?;
    let color = meta.image(input, meta.primary)?;
    let alpha_id = meta
        .refs
        .iter()
        .filter(|(kind, _, to)| kind == b"auxl" && *to == meta.primary)
        .map(|(_, from, _)| *from)
        .find(|id| meta.is_alpha(*id));
    let alpha = alpha_id.map(|id| meta.image(input, id)).transpose()?;
    let premultiplied = alpha_id.is_some_and(|alpha| {
        meta.refs.iter().any(|(kind, from, to)| kind == b"prem" && *from == meta.primary && *to == alpha)
    });
    let mut items = AvifItems { color, alpha, nclx: None, icc: None, transforms: Vec::new(), premultiplied };
    for (kind, body) in meta.properties_of(meta.primary) {
        apply_property(&mut items, kind, body)?;
    }
    Ok(items)
}

/// Whether the primary item has an alpha auxiliary image (for the probe, which chooses the output format
/// before decoding); false when the container does not parse.
pub fn has_alpha(input: &[u8]) -> bool {
    parse(input).is_ok_and(|items| items.alpha.is_some())
}

fn apply_property<'a>(items: &mut AvifItems<'a>, kind: [u8; 4], body: &'a [u8]) -> Result<(), PipelineError> {
    let mut r = Reader::new(body);
    match &kind {
        b"colr" => match r.take(4)? {
            b"nclx" if items.nclx.is_none() => {
                let (primaries, transfer, matrix) = (r.u16()?, r.u16()?, r.u16()?);
                items.nclx = Some(Nclx { primaries, transfer, matrix, full_range: r.u8()? & 0x80 != 0 });
            }
            b"prof" | b"rICC" if items.icc.is_none() => items.icc = Some(r.rest()),
            _ => {}
        },
        b"irot" => items.transforms.push(Transform::Rotate(r.u8()? & 3)),
        b"imir" => items.transforms.push(Transform::Mirror(r.u8()? & 1)),
        _ => {}
    }
    Ok(())
}

fn parse_meta(meta_box: &[u8]) -> Result<Meta<'_>, PipelineError> {
    let mut meta = Meta::default();
    let body = meta_box.get(4..).ok_or_else(|| corrupt("short meta"))?; // full box
    for bx in boxes(body) {
        let (kind, b) = bx?;
        let mut r = Reader::new(b);
        match &kind {
            b"pitm" => {
                let (v, _) = r.full()?;
                meta.primary = if v == 0 { u32::from(r.u16()?) } else { r.u32()? };
            }
            b"iloc" => meta.locations = parse_iloc(&mut r)?,
            b"iinf" => meta.types = parse_iinf(&mut r)?,
            b"iref" => meta.refs = parse_iref(&mut r)?,
            b"iprp" => parse_iprp(b, &mut meta)?,
            b"idat" => meta.idat = b,
            _ => {}
        }
    }
    if meta.primary == 0 {
        return Err(corrupt("no primary item"));
    }
    Ok(meta)
}

fn parse_iloc(r: &mut Reader) -> Result<Vec<Location>, PipelineError> {
    let (v, _) = r.full()?;
    let sizes = r.u16()?;
    let (off, len, base, idx) = (
        usize::from(sizes >> 12),
        usize::from((sizes >> 8) & 15),
        usize::from((sizes >> 4) & 15),
        usize::from(sizes & 15),
    );
    let idx = if v == 1 || v == 2 { idx } else { 0 };
    let count = if v < 2 { u32::from(r.u16()?) } else { r.u32()? };
    let mut out = Vec::new();
    for _ in 0..(count as usize).min(MAX_ENTRIES) {
        let id = if v < 2 { u32::from(r.u16()?) } else { r.u32()? };
        let method = if v == 1 || v == 2 { r.u16()? & 15 } else { 0 };
        let _data_ref = r.u16()?;
        let base_offset = r.uint(base)?;
        let extents = r.u16()?;
        let mut loc = Location { id, in_idat: method == 1, extents: Vec::new() };
        for _ in 0..extents {
            r.uint(idx)?;
            let (o, l) = (r.uint(off)?, r.uint(len)?);
            let start = base_offset.checked_add(o).ok_or_else(|| corrupt("extent offset"))?;
            loc.extents.push(start..start.checked_add(l).ok_or_else(|| corrupt("extent length"))?);
        }
        if method <= 1 {
            out.push(loc);
        }
    }
    Ok(out)
}

fn parse_iinf(r: &mut Reader) -> Result<Vec<(u32, [u8; 4])>, PipelineError> {
    let (v, _) = r.full()?;
    let _count = if v == 0 { u32::from(r.u16()?) } else { r.u32()? };
    let mut out = Vec::new();
    for bx in boxes(r.rest()) {
        let (kind, b) = bx?;
        if &kind != b"infe" {
            continue;
        }
        let mut e = Reader::new(b);
        let (ev, _) = e.full()?;
        if ev < 2 {
            continue; // versions 0/1 predate item types; AVIF requires 2 or 3
        }
        let id = if ev == 2 { u32::from(e.u16()?) } else { e.u32()? };
        let _protection = e.u16()?;
        let t: [u8; 4] = e.take(4)?.try_into().map_err(|_| corrupt("item type"))?;
        out.push((id, t));
    }
    Ok(out)
}

fn parse_iref(r: &mut Reader) -> Result<Vec<([u8; 4], u32, u32)>, PipelineError> {
    let (v, _) = r.full()?;
    let mut out = Vec::new();
    for bx in boxes(r.rest()) {
        let (kind, b) = bx?;
        let mut e = Reader::new(b);
        let id = |e: &mut Reader| if v == 0 { e.u16().map(u32::from) } else { e.u32() };
        let from = id(&mut e)?;
        let n = e.u16()?;
        for _ in 0..n {
            let to = id(&mut e)?;
            if out.len() < MAX_ENTRIES {
                out.push((kind, from, to));
            }
        }
    }
    Ok(out)
}

fn parse_iprp<'a>(iprp: &'a [u8], meta: &mut Meta<'a>) -> Result<(), PipelineError> {
    if let Some(ipco) = child(iprp, b"ipco")? {
        meta.properties = boxes(ipco).collect::<Result<_, _>>()?;
    }
    for bx in boxes(iprp) {
        let (kind, b) = bx?;
        if &kind != b"ipma" {
            continue;
        }
        let mut r = Reader::new(b);
        let (v, flags) = r.full()?;
        let count = r.u32()?;
        for _ in 0..(count as usize).min(MAX_ENTRIES) {
            let id = if v < 1 { u32::from(r.u16()?) } else { r.u32()? };
            let n = r.u8()?;
            let mut props = Vec::with_capacity(usize::from(n));
            for _ in 0..n {
                props.push(if flags & 1 != 0 { r.u16()? & 0x7FFF } else { u16::from(r.u8()? & 0x7F) });
            }
            meta.associations.push((id, props));
        }
    }
    Ok(())
}

impl<'a> Meta<'a> {
    fn item_type(&self, id: u32) -> Option<[u8; 4]> {
        self.types.iter().find(|(i, _)| *i == id).map(|(_, t)| *t)
    }

    /// The properties associated with item `id`, in association order.
    fn properties_of(&self, id: u32) -> impl Iterator<Item = ([u8; 4], &'a [u8])> + '_ {
        let indices = self.associations.iter().filter(move |(i, _)| *i == id).flat_map(|(_, p)| p.iter());
        indices.filter_map(|ix| usize::from(*ix).checked_sub(1).and_then(|i| self.properties.get(i)).copied())
    }

    fn is_alpha(&self, id: u32) -> bool {
        matches!(self.item_type(id), Some(t) if &t == b"av01" || &t == b"grid")
            && self.properties_of(id).any(|(k, b)| {
                &k == b"auxC" && b.get(4..).is_some_and(|urn| ALPHA_URNS.iter().any(|u| urn.starts_with(u)))
            })
    }

    /// Image item `id`: one AV1 frame, or a grid of AV1 frames.
    fn image(&self, input: &'a [u8], id: u32) -> Result<Av1Image<'a>, PipelineError> {
        match &self.item_type(id).ok_or_else(|| corrupt("image item has no type"))? {
            b"av01" => Ok(Av1Image::Single(self.payload(input, id)?)),
            b"grid" => self.grid(input, id),
            other => Err(PipelineError::Unsupported(format!("AVIF item type {}", String::from_utf8_lossy(other)))),
        }
    }

    /// A `grid` item: its descriptor (version 0; 16- or 32-bit output size) and its `dimg` tiles, which
    /// must be AV1 frames, exactly rows × columns of them.
    fn grid(&self, input: &'a [u8], id: u32) -> Result<Av1Image<'a>, PipelineError> {
        let descriptor = self.payload(input, id)?;
        let mut r = Reader::new(&descriptor);
        let (_version, flags) = (r.u8()?, r.u8()?);
        let (rows, columns) = (u32::from(r.u8()?) + 1, u32::from(r.u8()?) + 1);
        let field = if flags & 1 != 0 { 4 } else { 2 };
        let (width, height) = (r.uint(field)? as u32, r.uint(field)? as u32);
        let ids = self.refs.iter().filter(|(kind, from, _)| kind == b"dimg" && *from == id).map(|(_, _, to)| *to);
        let ids: Vec<u32> = ids.collect();
        if ids.len() as u64 != u64::from(rows) * u64::from(columns) {
            return Err(corrupt("grid tile count differs from rows × columns"));
        }
        let mut tiles = Vec::with_capacity(ids.len());
        for tile in ids {
            if self.item_type(tile) != Some(*b"av01") {
                return Err(PipelineError::Unsupported("AVIF grid of non-AV1 tiles".into()));
            }
            tiles.push(self.payload(input, tile)?);
        }
        Ok(Av1Image::Grid { columns, width, height, tiles })
    }

    /// The bytes of item `id`: borrowed when in one extent, else concatenated.
    fn payload(&self, input: &'a [u8], id: u32) -> Result<Cow<'a, [u8]>, PipelineError> {
        let loc = self.locations.iter().find(|l| l.id == id).ok_or_else(|| corrupt("item has no location"))?;
        let source: &'a [u8] = if loc.in_idat { self.idat } else { input };
        let slice = |e: &Range<u64>| -> Result<&'a [u8], PipelineError> {
            let (s, t) = (usize::try_from(e.start), usize::try_from(e.end));
            let (Ok(s), Ok(t)) = (s, t) else { return Err(corrupt("extent out of range")) };
            source.get(s..t).ok_or_else(|| corrupt("item data past the end of the file"))
        };
        match loc.extents.as_slice() {
            [] => Err(corrupt("item has no data")),
            [one] => Ok(Cow::Borrowed(slice(one)?)),
            many => {
                let mut v = Vec::new();
                for e in many {
                    v.extend_from_slice(slice(e)?);
                }
                Ok(Cow::Owned(v))
            }
        }
    }
}

#[cfg(test)]
#[path = "avif_container_tests.rs"]
pub(crate) mod tests;
