//! Audio/video recognition from magic numbers, for media-proxy's browser-safe pass-through list
//! (misskey `FILE_TYPE_BROWSERSAFE`, SPEC §3). Images are recognised by `pipeline::probe`; this only
//! answers "is it browser-safe audio/video, and which". Never trusts the upstream `Content-Type`.

/// A recognised audio/video type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaType {
    /// MIME type sent as `Content-Type`.
    pub mime: &'static str,
    /// File extension used to correct the download name.
    pub ext: &'static str,
    /// On media-proxy's browser-safe list (others are refused with 403).
    pub browser_safe: bool,
}

const fn safe(mime: &'static str, ext: &'static str) -> MediaType {
    MediaType { mime, ext, browser_safe: true }
}

/// How many leading bytes [`sniff`] wants to see (fewer at the end of a short body is fine).
pub const SNIFF_LEN: usize = 64;

/// Recognises audio/video from the first bytes; `None` means "not audio/video" (maybe an image).
pub fn sniff(head: &[u8]) -> Option<MediaType> {
    match head {
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => iso_bmff(head),
        [0x1A, 0x45, 0xDF, 0xA3, ..] => Some(matroska(head)),
        [b'O', b'g', b'g', b'S', ..] => Some(ogg(head)),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'A', b'V', b'E', ..] => Some(safe("audio/wav", "wav")),
        [b'f', b'L', b'a', b'C', ..] => Some(safe("audio/flac", "flac")),
        [b'I', b'D', b'3', ..] => Some(safe("audio/mpeg", "mp3")),
        [0, 0, 1, 0xBA, ..] | [0, 0, 1, 0xB3, ..] => Some(safe("video/mpeg", "mpg")),
        [0xFF, b, ..] if b & 0xF6 == 0xF0 => Some(safe("audio/aac", "aac")), // ADTS: layer bits 00
        [0xFF, b, ..] if b & 0xE0 == 0xE0 && b & 0x06 != 0 => Some(safe("audio/mpeg", "mp3")),
        _ => None,
    }
}

/// `ftyp` files: AVIF/HEIF are images (left to the probe); the rest by major brand, as file-type does.
fn iso_bmff(head: &[u8]) -> Option<MediaType> {
    let brand = head.get(8..12)?;
    Some(match brand {
        b"avif" | b"avis" | b"heic" | b"heix" | b"hevc" | b"hevx" | b"mif1" | b"msf1" => return None,
        b"qt  " => safe("video/quicktime", "mov"),
        b"M4A " | b"M4B " => safe("audio/x-m4a", "m4a"),
        b"M4V " | b"M4VH" | b"M4VP" => safe("video/x-m4v", "m4v"),
        [b'3', b'g', b'2', _] => safe("video/3gpp2", "3g2"),
        [b'3', b'g', _, _] => safe("video/3gpp", "3gp"),
        _ => safe("video/mp4", "mp4"),
    })
}

/// EBML: WebM when the DocType says so; other Matroska is not browser-safe.
fn matroska(head: &[u8]) -> MediaType {
    if head.windows(4).any(|w| w == b"webm") {
        safe("video/webm", "webm")
    } else {
        MediaType { mime: "video/x-matroska", ext: "mkv", browser_safe: false }
    }
}

/// Ogg by the codec header of its first page.
fn ogg(head: &[u8]) -> MediaType {
    let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    if has(b"OpusHead") {
        safe("audio/opus", "opus")
    } else if has(b"\x80theora") {
        safe("video/ogg", "ogv")
    } else if has(b"\x01vorbis") || has(b"\x7fFLAC") {
        safe("audio/ogg", "oga")
    } else {
        safe("application/ogg", "ogx")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(brand: &[u8; 4]) -> Vec<u8> {
        let mut v = vec![0, 0, 0, 0x18, b'f', b't', b'y', b'p'];
        v.extend_from_slice(brand);
        v.extend_from_slice(&[0; 12]);
        v
    }

    #[test]
    fn sniff_rows() {
        let webm = [&[0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x82, 0x84][..], b"webm"].concat();
        let mkv = [&[0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x82, 0x88][..], b"matroska"].concat();
        let rows: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
            ("mp4 isom", ftyp(b"isom"), Some("video/mp4")),
            ("quicktime", ftyp(b"qt  "), Some("video/quicktime")),
            ("m4a", ftyp(b"M4A "), Some("audio/x-m4a")),
            ("3gp", ftyp(b"3gp5"), Some("video/3gpp")),
            ("avif is an image", ftyp(b"avif"), None),
            ("heic is an image", ftyp(b"heic"), None),
            ("webm", webm, Some("video/webm")),
            ("matroska", mkv, Some("video/x-matroska")),
            (
                "opus",
                b"OggS\0\x02\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x13OpusHead".to_vec(),
                Some("audio/opus"),
            ),
            (
                "vorbis",
                b"OggS\0\x02\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x1e\x01vorbis".to_vec(),
                Some("audio/ogg"),
            ),
            ("wav", b"RIFF\x24\0\0\0WAVEfmt ".to_vec(), Some("audio/wav")),
            ("webp is not audio", b"RIFF\x24\0\0\0WEBPVP8 ".to_vec(), None),
            ("flac", b"fLaC\0\0\0\x22".to_vec(), Some("audio/flac")),
            ("mp3 with id3", b"ID3\x04\0\0\0\0\0\0".to_vec(), Some("audio/mpeg")),
            ("mp3 frame sync", vec![0xFF, 0xFB, 0x90, 0x64], Some("audio/mpeg")),
            ("aac adts", vec![0xFF, 0xF1, 0x50, 0x80], Some("audio/aac")),
            ("jpeg is not audio", vec![0xFF, 0xD8, 0xFF, 0xE0], None),
            ("mpeg program stream", vec![0, 0, 1, 0xBA, 0x44], Some("video/mpeg")),
            ("ico is not video", vec![0, 0, 1, 0, 1, 0], None),
            ("html", b"<!doctype html><html>".to_vec(), None),
            ("empty", vec![], None),
        ];
        for (name, bytes, want) in rows {
            assert_eq!(sniff(&bytes).map(|m| m.mime), want, "{name}");
        }
    }
}
