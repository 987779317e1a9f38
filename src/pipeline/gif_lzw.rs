//! GIF's variable-width LZW (GIF89a appendix F), decoded straight into a frame's index buffer.
//!
//! Speed is the reason this exists (issue 3, animated GIF → WebP): the `gif` crate's decoder (weezl)
//! rebuilds every string by walking its prefix chain. Here every table entry is remembered as the
//! place in the output where its string was already written (an entry is always "the previous
//! string plus the first byte of the current one", and those bytes sit next to each other in the
//! output), so a code is one short memmove, and codes come out of a 64-bit bit buffer. No
//! allocation per code or per frame: the table is two fixed arrays.
//!
//! Semantics follow the `gif` crate and browsers: minimum code sizes 1..=11 (1 is seen in bilevel
//! GIFs from the wild), codes start at `min + 1` bits and grow to 12, a full table keeps decoding
//! without adding entries until the encoder sends a clear code ("deferred clear"), a code beyond
//! the table is corrupt, and data that ends before the frame is full leaves the frame as far as it
//! was decoded (the caller draws only what was decoded). Knows nothing of frames or palettes.

use std::fmt;

/// The code table's size: codes are at most 12 bits.
const MAX_CODES: usize = 4096;
/// The widest code.
const MAX_WIDTH: u32 = 12;
/// Bytes the output buffer must have beyond the pixels asked for: strings up to this long are
/// copied as one fixed-size block, which may write past their end.
pub const SLACK: usize = 16;

/// Why an LZW stream cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LzwError {
    /// The image data's minimum code size is outside 1..=11.
    MinCodeSize(u8),
    /// A code refers to a table entry that does not exist yet.
    InvalidCode,
}

impl fmt::Display for LzwError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LzwError::MinCodeSize(n) => write!(f, "LZW minimum code size {n} outside 1..=11"),
            LzwError::InvalidCode => f.write_str("LZW code beyond the table"),
        }
    }
}

/// The string table, reused from frame to frame: entry `c` is the `len[c]` bytes already written at
/// `start[c]` in the output.
pub struct Lzw {
    start: Box<[u32; MAX_CODES]>,
    len: Box<[u16; MAX_CODES]>,
}

impl Default for Lzw {
    fn default() -> Self {
        Lzw { start: Box::new([0; MAX_CODES]), len: Box::new([0; MAX_CODES]) }
    }
}

/// Codes read least significant bit first (as GIF packs them) through a 64-bit buffer.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u64,
    count: u32,
}

impl Bits<'_> {
    /// Tops the buffer up to at least 56 bits, or to whatever is left of the data. Bits above
    /// `count` may hold the next bytes already; the next refill ORs in the same bits again.
    #[inline(always)]
    fn refill(&mut self) {
        if let Some(chunk) = self.data.get(self.pos..self.pos + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.buf |= u64::from_le_bytes(word) << self.count;
            let bytes = (63 - self.count) >> 3;
            self.pos += bytes as usize;
            self.count += bytes * 8;
            return;
        }
        while self.count <= 56 {
            let Some(&byte) = self.data.get(self.pos) else { return };
            self.buf |= u64::from(byte) << self.count;
            self.pos += 1;
            self.count += 8;
        }
    }

    /// The next `width`-bit code, or `None` when the data has run out.
    #[inline(always)]
    fn code(&mut self, width: u32) -> Option<usize> {
        if self.count < width {
            self.refill();
            if self.count < width {
                return None;
            }
        }
        let code = (self.buf & ((1u64 << width) - 1)) as usize;
        self.buf >>= width;
        self.count -= width;
        Some(code)
    }
}

impl Lzw {
    /// Decodes `data` (the frame's sub-blocks joined) into `out[..want]` and returns how many
    /// pixels were written: `want` unless the stream ended (end code or no more data) first.
    /// `out` needs [`SLACK`] bytes beyond `want`; without them fewer pixels are decoded.
    pub fn decode(&mut self, min_code_size: u8, data: &[u8], out: &mut [u8], want: usize) -> Result<usize, LzwError> {
        if !(1..=11).contains(&min_code_size) {
            return Err(LzwError::MinCodeSize(min_code_size));
        }
        let want = want.min(out.len().saturating_sub(SLACK));
        let clear = 1usize << min_code_size;
        let (first_width, first_free) = (u32::from(min_code_size) + 1, clear + 2);
        let (mut width, mut next) = (first_width, first_free);
        // The previous code's string in the output; `prev_len == 0` right after a clear code.
        let (mut prev_start, mut prev_len) = (0usize, 0usize);
        let mut bits = Bits { data, pos: 0, buf: 0, count: 0 };
        let mut pos = 0usize;
        while pos < want {
            let Some(code) = bits.code(width) else { break };
            let (start, len) = if code < clear {
                (usize::MAX, 1)
            } else if code == clear {
                (width, next, prev_len) = (first_width, first_free, 0);
                continue;
            } else if code == clear + 1 {
                break;
            } else if code < next {
                (self.start[code & (MAX_CODES - 1)] as usize, usize::from(self.len[code & (MAX_CODES - 1)]))
            } else if code == next && prev_len != 0 {
                (prev_start, prev_len + 1)
            } else {
                return Err(LzwError::InvalidCode);
            };
            // The entry the encoder added after the previous code: that string plus this one's
            // first byte, which is about to be written right after it.
            if prev_len != 0 && next < MAX_CODES {
                self.start[next] = prev_start as u32;
                self.len[next] = (prev_len + 1) as u16;
                next += 1;
                if next >= 1 << width && width < MAX_WIDTH {
                    width += 1;
                }
            }
            let written = if start == usize::MAX {
                write_literal(out, pos, code)
            } else {
                copy_string(out, start, len, pos, want)
            };
            (prev_start, prev_len) = (pos, len);
            pos += written;
        }
        Ok(pos)
    }
}

/// Writes one literal at `pos`; returns 1.
#[inline(always)]
fn write_literal(out: &mut [u8], pos: usize, code: usize) -> usize {
    if let Some(slot) = out.get_mut(pos) {
        // Literals of min code sizes 9..=11 do not fit a byte; the `gif` crate keeps the low byte too.
        *slot = code as u8;
    }
    1
}

/// Copies the `len`-byte string at `start` to `pos` (at most up to `want`) and returns how many
/// bytes of it count. The string ends at or before `pos`, except for the code being defined by this
/// very use ("KwKwK"), whose last byte is its first.
#[inline(always)]
fn copy_string(out: &mut [u8], start: usize, len: usize, pos: usize, want: usize) -> usize {
    let n = len.min(want - pos);
    if start + len <= pos && len <= SLACK && pos + SLACK <= out.len() {
        // One fixed-size memmove; the bytes past `len` are overwritten by the next codes.
        out.copy_within(start..start + SLACK, pos);
    } else if start + len <= pos {
        out.copy_within(start..start + n, pos);
    } else {
        // KwKwK: the previous string, then its own first byte.
        let head = n.min(len - 1);
        out.copy_within(start..start + head, pos);
        if n == len {
            if let Some(&first) = out.get(start) {
                if let Some(last) = out.get_mut(pos + len - 1) {
                    *last = first;
                }
            }
        }
    }
    n
}

#[cfg(test)]
#[path = "gif_lzw_tests.rs"]
mod tests;
