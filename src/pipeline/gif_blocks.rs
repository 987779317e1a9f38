//! The GIF container (GIF89a §17–§26), read in place from the input bytes: header and logical
//! screen, global and local colour tables, graphic control extensions (disposal, transparent index,
//! delay), image descriptors, and the NETSCAPE2.0 / ANIMEXTS1.0 loop count; other extensions are
//! skipped. `gif_frames.rs` draws the frames, `gif_lzw.rs` decodes their pixels.
//!
//! Damaged files are read as far as they go, as browsers do: a missing trailer, an unknown block or
//! a file cut inside a frame ends the animation after what was read (a cut frame keeps the pixels
//! its data holds). Only a bad header or a frame without any colour table is an error. Knows
//! nothing of pixels, canvases or the plan.

use super::probe::colour_table_len;
use super::PipelineError;

/// What a frame asks to be done to its rectangle before the next frame is drawn (GIF89a §23).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Disposal {
    /// 0 (unspecified) or 1 (do not dispose), and the reserved values 4–7: leave the frame in place.
    #[default]
    Keep,
    /// 2: restore to the background, which browsers and libvips take as transparent.
    Background,
    /// 3: restore what was under the frame.
    Previous,
}

/// The logical screen and what applies to every frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Screen<'a> {
    /// Canvas width in pixels.
    pub width: u16,
    /// Canvas height in pixels.
    pub height: u16,
    /// The global colour table, RGB triples (empty if the file has none).
    pub palette: &'a [u8],
}

/// One image descriptor with the graphic control extension that preceded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameHeader<'a> {
    /// Position on the canvas.
    pub left: u16,
    /// Position on the canvas.
    pub top: u16,
    /// Size of the frame's rectangle.
    pub width: u16,
    /// Size of the frame's rectangle.
    pub height: u16,
    /// Rows stored in the four-pass order (0, 8, 16…; 4, 12…; 2, 6…; 1, 3…).
    pub interlaced: bool,
    /// The local colour table, or else the global one: RGB triples, never empty.
    pub palette: &'a [u8],
    /// The index drawn as transparent, if any.
    pub transparent: Option<u8>,
    /// What happens to the rectangle after the frame was shown.
    pub disposal: Disposal,
    /// Display time in hundredths of a second.
    pub delay_cs: u16,
    /// LZW minimum code size (checked by the LZW decoder).
    pub min_code_size: u8,
}

/// The graphic control extension's fields, which apply to the next image only.
#[derive(Clone, Copy, Debug, Default)]
struct Control {
    transparent: Option<u8>,
    disposal: Disposal,
    delay_cs: u16,
}

/// Walks the blocks of one GIF.
pub struct Blocks<'a> {
    input: &'a [u8],
    pos: usize,
    screen: Screen<'a>,
    /// NETSCAPE2.0 / ANIMEXTS1.0 loop count, the last one read so far (0 = forever).
    loops: Option<u16>,
    /// Set once the trailer, an unknown block or the end of the input was reached.
    done: bool,
}

impl<'a> Blocks<'a> {
    /// Reads the header, the logical screen descriptor and the global colour table.
    pub fn new(input: &'a [u8]) -> Result<Blocks<'a>, PipelineError> {
        if !matches!(input.get(..6), Some(b"GIF87a" | b"GIF89a")) {
            return Err(corrupt("not a GIF87a/GIF89a header"));
        }
        let desc = input.get(6..13).ok_or_else(|| corrupt("logical screen descriptor cut short"))?;
        let (width, height) = (le16(desc, 0), le16(desc, 2));
        let flags = desc.get(4).copied().unwrap_or(0);
        let mut pos = 13;
        let len = colour_table_len(flags);
        let palette = input.get(pos..pos + len).ok_or_else(|| corrupt("global colour table cut short"))?;
        pos += len;
        Ok(Blocks { input, pos, screen: Screen { width, height, palette }, loops: None, done: false })
    }

    /// The logical screen.
    pub fn screen(&self) -> &Screen<'a> {
        &self.screen
    }

    /// The loop count from a NETSCAPE2.0 or ANIMEXTS1.0 block read so far (0 = forever), as
    /// stored: `None` when there was none.
    pub fn loops(&self) -> Option<u16> {
        self.loops
    }

    /// The next image descriptor, with the data position left at its LZW data, or `None` at the
    /// end. Call [`Blocks::read_data`] before asking for the next frame.
    pub fn next_frame(&mut self) -> Result<Option<FrameHeader<'a>>, PipelineError> {
        let mut control = Control::default();
        while !self.done {
            match self.input.get(self.pos) {
                Some(0x2C) => return self.image(control),
                Some(0x21) => {
                    let label = self.input.get(self.pos + 1).copied();
                    self.pos += 2;
                    self.extension(label, &mut control);
                }
                // The trailer; or, as browsers do, an unknown block or the end of the input ends
                // the animation after the frames read so far.
                _ => self.done = true,
            }
        }
        Ok(None)
    }

    /// Reads one image descriptor (the introducer at `pos`) and its local colour table.
    fn image(&mut self, control: Control) -> Result<Option<FrameHeader<'a>>, PipelineError> {
        let Some(desc) = self.input.get(self.pos + 1..self.pos + 10) else {
            self.done = true;
            return Ok(None);
        };
        let flags = desc.get(8).copied().unwrap_or(0);
        let mut pos = self.pos + 10;
        let mut palette = self.screen.palette;
        let len = colour_table_len(flags);
        if len > 0 {
            let Some(table) = self.input.get(pos..pos + len) else {
                self.done = true;
                return Ok(None);
            };
            (palette, pos) = (table, pos + len);
        }
        let Some(&min_code_size) = self.input.get(pos) else {
            self.done = true;
            return Ok(None);
        };
        if palette.is_empty() {
            return Err(corrupt("frame without a colour table"));
        }
        self.pos = pos + 1;
        Ok(Some(FrameHeader {
            left: le16(desc, 0),
            top: le16(desc, 2),
            width: le16(desc, 4),
            height: le16(desc, 6),
            interlaced: flags & 0x40 != 0,
            palette,
            transparent: control.transparent,
            disposal: control.disposal,
            delay_cs: control.delay_cs,
            min_code_size,
        }))
    }

    /// Appends the current frame's data sub-blocks to `out` (cleared first) and moves past them.
    /// Returns `false` when the input ended before the block terminator (no more frames follow).
    pub fn read_data(&mut self, out: &mut Vec<u8>) -> bool {
        out.clear();
        loop {
            let Some(&len) = self.input.get(self.pos) else {
                self.done = true;
                return false;
            };
            let start = self.pos + 1;
            let end = start + usize::from(len);
            self.pos = end;
            let Some(chunk) = self.input.get(start..end) else {
                out.extend_from_slice(self.input.get(start..).unwrap_or_default());
                self.done = true;
                return false;
            };
            if len == 0 {
                return true;
            }
            out.extend_from_slice(chunk);
        }
    }

    /// Reads one extension's sub-blocks (`pos` just past its label): the graphic control
    /// extension's fields and the application extension's loop count; anything else is skipped.
    fn extension(&mut self, label: Option<u8>, control: &mut Control) {
        let mut first: Option<&'a [u8]> = None;
        let mut app_is_loop = false;
        loop {
            let Some(&len) = self.input.get(self.pos) else {
                self.done = true;
                return;
            };
            let Some(block) = self.input.get(self.pos + 1..self.pos + 1 + usize::from(len)) else {
                self.done = true;
                return;
            };
            self.pos += 1 + usize::from(len);
            if len == 0 {
                break;
            }
            match (label, first) {
                (Some(0xF9), None) => *control = graphic_control(block),
                (Some(0xFF), None) => app_is_loop = matches!(block, b"NETSCAPE2.0" | b"ANIMEXTS1.0"),
                (Some(0xFF), Some(_)) if app_is_loop => {
                    if let [1, lo, hi] = block {
                        self.loops = Some(u16::from_le_bytes([*lo, *hi]));
                    }
                    app_is_loop = false;
                }
                _ => {}
            }
            first = first.or(Some(block));
        }
    }
}

/// The graphic control extension's 4-byte block (GIF89a §23); a shorter one changes nothing.
fn graphic_control(block: &[u8]) -> Control {
    let [flags, lo, hi, index, ..] = *block else {
        return Control::default();
    };
    let disposal = match (flags >> 2) & 7 {
        2 => Disposal::Background,
        3 => Disposal::Previous,
        _ => Disposal::Keep,
    };
    Control { transparent: (flags & 1 != 0).then_some(index), disposal, delay_cs: u16::from_le_bytes([lo, hi]) }
}

fn le16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[lo, hi]) => u16::from_le_bytes([lo, hi]),
        _ => 0,
    }
}

fn corrupt(what: &str) -> PipelineError {
    PipelineError::Corrupt(format!("gif: {what}"))
}

#[cfg(test)]
#[path = "gif_blocks_tests.rs"]
mod tests;
