use super::*;

/// A GIF written block by block, so that every field can be set, including invalid ones.
struct Builder(Vec<u8>);

impl Builder {
    fn new(w: u16, h: u16, global: Option<&[u8]>) -> Builder {
        let mut b = b"GIF89a".to_vec();
        b.extend_from_slice(&w.to_le_bytes());
        b.extend_from_slice(&h.to_le_bytes());
        match global {
            Some(p) => b.extend_from_slice(&[0x80 | table_bits(p), 0, 0]),
            None => b.extend_from_slice(&[0, 0, 0]),
        }
        b.extend_from_slice(global.unwrap_or_default());
        Builder(b)
    }

    fn extension(mut self, label: u8, blocks: &[&[u8]]) -> Builder {
        self.0.extend_from_slice(&[0x21, label]);
        for block in blocks {
            self.0.push(block.len() as u8);
            self.0.extend_from_slice(block);
        }
        self.0.push(0);
        self
    }

    fn control(self, flags: u8, delay: u16, transparent: u8) -> Builder {
        let d = delay.to_le_bytes();
        self.extension(0xF9, &[&[flags, d[0], d[1], transparent]])
    }

    fn image(mut self, rect: [u16; 4], flags: u8, local: Option<&[u8]>, data: &[&[u8]]) -> Builder {
        self.0.push(0x2C);
        for v in rect {
            self.0.extend_from_slice(&v.to_le_bytes());
        }
        self.0.push(flags | local.map_or(0, |p| 0x80 | table_bits(p)));
        self.0.extend_from_slice(local.unwrap_or_default());
        self.0.push(2);
        for block in data {
            self.0.push(block.len() as u8);
            self.0.extend_from_slice(block);
        }
        self.0.push(0);
        self
    }

    fn trailer(mut self) -> Vec<u8> {
        self.0.push(0x3B);
        self.0
    }
}

/// The size field of a colour table of `p.len() / 3` entries (a power of two from 2).
fn table_bits(p: &[u8]) -> u8 {
    (p.len() / 3).trailing_zeros() as u8 - 1
}

const PAL2: &[u8] = &[0, 0, 0, 255, 255, 255];
const PAL4: &[u8] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

/// A frame header, its joined data, and whether the data ended at its terminator.
type Walked<'a> = (FrameHeader<'a>, Vec<u8>, bool);
/// A table row: name, sub-blocks of one extension, expected loop count.
type LoopRow<'a> = (&'a str, &'a [&'a [u8]], Option<u16>);
/// A table row: name, file, frames, the last frame's data, whether that data was complete.
type DamageRow<'a> = (&'a str, Vec<u8>, usize, &'a [u8], bool);

/// Every frame header and its joined data, plus the loop count.
fn walk(bytes: &[u8]) -> (Vec<Walked<'_>>, Option<u16>) {
    let mut blocks = Blocks::new(bytes).unwrap();
    let mut out = Vec::new();
    while let Some(frame) = blocks.next_frame().unwrap() {
        let mut data = Vec::new();
        let complete = blocks.read_data(&mut data);
        out.push((frame, data, complete));
    }
    (out, blocks.loops())
}

#[test]
fn headers_palettes_and_control_fields_are_read() {
    let bytes = Builder::new(20, 10, Some(PAL2))
        .extension(0xFF, &[b"NETSCAPE2.0", &[1, 3, 0]])
        .control(0b0000_1001, 7, 1)
        .image([1, 2, 3, 4], 0x40, None, &[&[9, 8], &[7]])
        .extension(0xFE, &[b"a comment", b"in two blocks"])
        .control(0b0000_1100, 65535, 0)
        .image([0, 0, 20, 10], 0, Some(PAL4), &[&[5]])
        .image([5, 5, 1, 1], 0, None, &[])
        .trailer();
    let (frames, loops) = walk(&bytes);
    assert_eq!(loops, Some(3));
    assert_eq!(frames.len(), 3);
    let (first, data, complete) = &frames[0];
    assert_eq!((first.left, first.top, first.width, first.height), (1, 2, 3, 4));
    assert!(first.interlaced);
    assert_eq!(
        (first.palette, first.transparent, first.disposal, first.delay_cs),
        (PAL2, Some(1), Disposal::Background, 7)
    );
    assert_eq!((data.as_slice(), *complete, first.min_code_size), (&[9u8, 8, 7][..], true, 2));
    let second = &frames[1].0;
    assert_eq!(
        (second.palette, second.transparent, second.disposal, second.delay_cs),
        (PAL4, None, Disposal::Previous, 65535)
    );
    assert!(!second.interlaced);
    let third = &frames[2].0;
    assert_eq!(
        (third.palette, third.transparent, third.disposal, third.delay_cs),
        (PAL2, None, Disposal::Keep, 0),
        "control fields apply to one image only"
    );
}

#[test]
fn loop_counts_from_netscape_and_animexts() {
    let rows: &[LoopRow<'_>] = &[
        ("NETSCAPE2.0 forever", &[b"NETSCAPE2.0", &[1, 0, 0]], Some(0)),
        ("NETSCAPE2.0 five", &[b"NETSCAPE2.0", &[1, 5, 0]], Some(5)),
        ("ANIMEXTS1.0, the same block by another name", &[b"ANIMEXTS1.0", &[1, 0, 1]], Some(256)),
        ("another application's block", &[b"XMP DataXMP", &[1, 5, 0]], None),
        ("a NETSCAPE buffering sub-block is not a loop count", &[b"NETSCAPE2.0", &[2, 0, 16, 0, 0]], None),
    ];
    for (name, blocks, want) in rows {
        let bytes =
            Builder::new(1, 1, Some(PAL2)).extension(0xFF, blocks).image([0, 0, 1, 1], 0, None, &[&[0]]).trailer();
        assert_eq!(walk(&bytes).1, *want, "{name}");
    }
    let none = Builder::new(1, 1, Some(PAL2)).image([0, 0, 1, 1], 0, None, &[&[0]]).trailer();
    assert_eq!(walk(&none).1, None, "no block: plays once");
}

#[test]
fn damaged_files_end_after_what_was_read() {
    let good = Builder::new(4, 4, Some(PAL2)).image([0, 0, 4, 4], 0, None, &[&[1, 2, 3]]).image(
        [0, 0, 4, 4],
        0,
        None,
        &[&[4, 5, 6]],
    );
    let mut unknown_block = good.0.clone();
    unknown_block.extend_from_slice(&[0x99, 1, 2, 3]);
    let without_trailer = good.0.clone();
    let cut_in_data = good.0[..good.0.len() - 3].to_vec();
    let rows: Vec<DamageRow<'_>> = vec![
        ("an unknown block ends the file", unknown_block, 2, &[4, 5, 6], true),
        ("a missing trailer is no error", without_trailer, 2, &[4, 5, 6], true),
        ("a cut frame keeps the data it has", cut_in_data, 2, &[4], false),
    ];
    for (name, bytes, count, last_data, last_complete) in rows {
        let (frames, _) = walk(&bytes);
        assert_eq!(frames.len(), count, "{name}");
        let (_, data, complete) = frames.last().unwrap();
        assert_eq!((data.as_slice(), *complete), (last_data, last_complete), "{name}");
    }
}

#[test]
fn bad_headers_and_frames_without_colours_are_errors() {
    let no_palette = Builder::new(4, 4, None).image([0, 0, 4, 4], 0, None, &[&[1]]).trailer();
    let mut blocks = Blocks::new(&no_palette).unwrap();
    assert!(matches!(blocks.next_frame(), Err(PipelineError::Corrupt(_))), "no global and no local table");
    let local_only = Builder::new(4, 4, None).image([0, 0, 4, 4], 0, Some(PAL4), &[&[1]]).trailer();
    assert_eq!(walk(&local_only).0.len(), 1, "a local table is enough");
    for (name, bytes) in [
        ("not a GIF", b"PNG89a\x01\x00\x01\x00\x00\x00\x00".to_vec()),
        ("an unknown version", b"GIF88a\x01\x00\x01\x00\x00\x00\x00".to_vec()),
        ("a cut screen descriptor", b"GIF89a\x01\x00\x01".to_vec()),
        ("a cut global table", b"GIF89a\x01\x00\x01\x00\x81\x00\x00\x01\x02".to_vec()),
    ] {
        assert!(matches!(Blocks::new(&bytes), Err(PipelineError::Corrupt(_))), "{name}");
    }
}
