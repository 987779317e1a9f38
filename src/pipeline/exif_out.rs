//! Which EXIF goes into the result (`strip_metadata|sm`, `keep_copyright|kcr`).
//!
//! As imgproxy (`vips_strip`): by default (`IMGPROXY_STRIP_METADATA` true) metadata is dropped, except
//! that with `keep_copyright` (default true) the EXIF `Copyright` and `Artist` tags survive; with
//! `strip_metadata` off the source's EXIF is kept whole, its `Orientation` reset to 1 because the pixels
//! are already upright. We write it into JPEG results only (through `metadata.rs`); other outputs carry
//! no EXIF, a documented difference. XMP/IPTC are not carried. Knows nothing of pixels or encoders.

use crate::plan::Processing;

/// EXIF `Artist` and `Copyright` tag numbers (TIFF 6.0, IFD0).
const ARTIST: u16 = 0x013B;
const COPYRIGHT: u16 = 0x8298;
const ORIENTATION: u16 = 0x0112;

/// The EXIF TIFF payload to write, from the source's payload `source` (if any).
pub fn for_output(source: Option<&[u8]>, p: &Processing) -> Option<Vec<u8>> {
    let source = source?;
    if !p.strip_metadata {
        return Some(upright(source));
    }
    if !p.keep_copyright {
        return None;
    }
    let exif = exif::Reader::new().read_raw(source.to_vec()).ok()?;
    let text = |tag: exif::Tag| match &exif.get_field(tag, exif::In::PRIMARY)?.value {
        exif::Value::Ascii(parts) => parts.first().filter(|t| !t.is_empty()).cloned(),
        _ => None,
    };
    let mut tags = Vec::new();
    if let Some(a) = text(exif::Tag::Artist) {
        tags.push((ARTIST, a));
    }
    if let Some(c) = text(exif::Tag::Copyright) {
        tags.push((COPYRIGHT, c));
    }
    (!tags.is_empty()).then(|| ascii_tiff(&tags))
}

/// A little-endian TIFF with one IFD of ASCII entries (tags in ascending order).
fn ascii_tiff(tags: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let ifd_len = 2 + tags.len() * 12 + 4;
    let mut out = b"II*\0\x08\0\0\0".to_vec();
    let mut data = Vec::new();
    out.extend_from_slice(&(tags.len() as u16).to_le_bytes());
    for (tag, text) in tags {
        let mut value = text.clone();
        value.push(0);
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        if value.len() <= 4 {
            value.resize(4, 0);
            out.extend_from_slice(&value);
        } else {
            out.extend_from_slice(&((8 + ifd_len + data.len()) as u32).to_le_bytes());
            data.extend_from_slice(&value);
        }
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&data);
    out
}

/// A copy of the TIFF payload whose IFD0 `Orientation` (if any) says 1.
fn upright(tiff: &[u8]) -> Vec<u8> {
    let mut out = tiff.to_vec();
    let big = tiff.starts_with(b"MM");
    let u16_at = |b: &[u8], at: usize| {
        b.get(at..at + 2).map(|v| if big { u16::from_be_bytes([v[0], v[1]]) } else { u16::from_le_bytes([v[0], v[1]]) })
    };
    let u32_at = |b: &[u8], at: usize| {
        b.get(at..at + 4).map(|v| {
            let a = [v[0], v[1], v[2], v[3]];
            if big {
                u32::from_be_bytes(a)
            } else {
                u32::from_le_bytes(a)
            }
        })
    };
    let Some(ifd) = u32_at(tiff, 4).map(|o| o as usize) else { return out };
    let count = u16_at(tiff, ifd).unwrap_or(0) as usize;
    for i in 0..count.min(1000) {
        let entry = ifd + 2 + i * 12;
        if u16_at(tiff, entry) == Some(ORIENTATION) {
            let one = if big { 1u16.to_be_bytes() } else { 1u16.to_le_bytes() };
            if let Some(v) = out.get_mut(entry + 8..entry + 10) {
                v.copy_from_slice(&one);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(tiff: &[u8], tag: exif::Tag) -> Option<String> {
        let exif = exif::Reader::new().read_raw(tiff.to_vec()).ok()?;
        Some(exif.get_field(tag, exif::In::PRIMARY)?.display_value().to_string())
    }

    fn source() -> Vec<u8> {
        // A source with Artist, Copyright and Orientation 6.
        let mut t = ascii_tiff(&[(ARTIST, b"Jane".to_vec()), (COPYRIGHT, b"(c) Jane Doe 2026".to_vec())]);
        // Append an Orientation entry (SHORT 6) after the two ASCII ones.
        let entries = u16::from_le_bytes([t[8], t[9]]);
        t[8..10].copy_from_slice(&(entries + 1).to_le_bytes());
        let at = 10 + usize::from(entries) * 12;
        let mut e = Vec::new();
        e.extend_from_slice(&ORIENTATION.to_le_bytes());
        e.extend_from_slice(&3u16.to_le_bytes());
        e.extend_from_slice(&1u32.to_le_bytes());
        e.extend_from_slice(&[6, 0, 0, 0]);
        t.splice(at..at, e);
        // Both strings are longer than 4 bytes: their data moved 12 bytes further.
        for i in 0..usize::from(entries) {
            let off_at = 10 + i * 12 + 8;
            let off = u32::from_le_bytes([t[off_at], t[off_at + 1], t[off_at + 2], t[off_at + 3]]) + 12;
            t[off_at..off_at + 4].copy_from_slice(&off.to_le_bytes());
        }
        t
    }

    #[test]
    fn what_survives_each_setting() {
        let src = source();
        assert_eq!(read(&src, exif::Tag::Orientation).as_deref(), Some("row 0 at right and column 0 at top"));
        let p = |strip_metadata: bool, keep_copyright: bool| Processing {
            strip_metadata,
            keep_copyright,
            ..Processing::default()
        };
        let kept = for_output(Some(&src), &p(true, true)).unwrap();
        assert_eq!(read(&kept, exif::Tag::Copyright).as_deref(), Some("\"(c) Jane Doe 2026\""));
        assert_eq!(read(&kept, exif::Tag::Artist).as_deref(), Some("\"Jane\""));
        assert_eq!(read(&kept, exif::Tag::Orientation), None, "only copyright survives stripping");
        assert_eq!(for_output(Some(&src), &p(true, false)), None, "strip everything");
        let whole = for_output(Some(&src), &p(false, false)).unwrap();
        assert_eq!(read(&whole, exif::Tag::Copyright).as_deref(), Some("\"(c) Jane Doe 2026\""));
        assert_eq!(read(&whole, exif::Tag::Orientation).as_deref(), Some("row 0 at top and column 0 at left"));
        assert_eq!(for_output(None, &p(false, true)), None, "no source EXIF, nothing written");
    }
}
