//! The entropy-coded bytes of one scan, unstuffed, and a 64-bit big-endian bit reader over them.
//!
//! Unstuffing first (0xFF 0x00 → 0xFF, fill bytes dropped, RSTn markers turned into segment bounds)
//! costs one `memchr`-driven copy of the scan, and buys a reader that refills 8 bytes at a time with no
//! 0xFF test at all: the refill is a load, a shift and an OR (the "bits beyond the count are already
//! correct" refill, so it never branches on how many bytes it took). Reads past the end see zeros;
//! [`Bits::overran`] tells the caller whether a segment used more bits than it holds, which means
//! corrupt data. Nothing here knows about Huffman codes or blocks.

use std::ops::Range;

/// Zero bytes after the data, so the common refill never leaves the buffer.
const PAD: usize = 16;

/// One scan's entropy-coded data with the stuffing removed.
pub struct Entropy {
    /// Unstuffed bytes of every restart segment, back to back, then [`PAD`] zeros.
    pub data: Vec<u8>,
    /// Each restart segment's byte range in `data`, in stream order.
    pub segments: Vec<Range<usize>>,
}

/// Unstuffs the entropy-coded data starting at `scan` (the bytes after the SOS segment) up to the
/// first marker that is not RSTn (normally EOI), or the end of the input for a truncated file.
pub fn unstuff(scan: &[u8]) -> Entropy {
    let mut data = Vec::with_capacity(scan.len() + PAD);
    let mut segments = Vec::new();
    let mut seg_start = 0;
    let mut rest = scan;
    while let Some(at) = memchr::memchr(0xFF, rest) {
        let (plain, tail) = rest.split_at(at);
        data.extend_from_slice(plain);
        match tail.get(1) {
            Some(0x00) => {
                data.push(0xFF);
                rest = tail.get(2..).unwrap_or_default();
            }
            // A fill byte before a marker.
            Some(0xFF) => rest = tail.get(1..).unwrap_or_default(),
            Some(0xD0..=0xD7) => {
                segments.push(seg_start..data.len());
                seg_start = data.len();
                rest = tail.get(2..).unwrap_or_default();
            }
            _ => {
                rest = &[];
                break;
            }
        }
    }
    data.extend_from_slice(rest);
    segments.push(seg_start..data.len());
    data.resize(data.len() + PAD, 0);
    Entropy { data, segments }
}

/// A big-endian bit reader; the next bits to read are the top `count` bits of `acc`. It is `Copy` so
/// the block decoder can hold it in registers and write it back once per block.
#[derive(Clone, Copy)]
pub struct Bits<'a> {
    data: &'a [u8],
    /// Next byte to load.
    pos: usize,
    acc: u64,
    count: u32,
}

impl<'a> Bits<'a> {
    /// A reader at the start of `data`.
    pub fn new(data: &'a [u8]) -> Bits<'a> {
        Bits { data, pos: 0, acc: 0, count: 0 }
    }

    /// Restarts reading at byte `at` (a restart segment's start), dropping any buffered bits.
    pub fn seek(&mut self, at: usize) {
        (self.pos, self.acc, self.count) = (at, 0, 0);
    }

    /// Tops the buffer up to at least 56 bits. Past the end of the data it shifts in zeros.
    #[inline(always)]
    pub fn refill(&mut self) {
        // Past the end, load the last 8 bytes (the zero padding) while `pos` keeps counting, so
        // [`Bits::overran`] still sees the overrun; the clamp also lets the bounds check go.
        let at = self.pos.min(self.data.len().saturating_sub(8));
        let word = match self.data.get(at..at + 8).and_then(|s| s.first_chunk::<8>()) {
            Some(bytes) => u64::from_be_bytes(*bytes),
            None => 0,
        };
        self.acc |= word >> (self.count & 63);
        self.pos += ((63 - (self.count & 63)) >> 3) as usize;
        self.count = (self.count & 63) | 56;
    }

    /// The next `n` bits (1 ≤ n ≤ 32) without consuming them.
    #[inline(always)]
    pub fn peek(&self, n: u32) -> u32 {
        (self.acc >> (64 - n)) as u32
    }

    /// Drops `n ≤ 31` bits; the caller made sure `n ≤ count` (a refill guarantees 56, and no symbol
    /// with its extra bits takes more than 31). Masked and wrapping, so a broken promise cannot panic.
    #[inline(always)]
    pub fn consume(&mut self, n: u32) {
        self.acc <<= n & 63;
        self.count = self.count.wrapping_sub(n);
    }

    /// Whether more bits were consumed than the bytes before `end` hold.
    pub fn overran(&self, end: usize) -> bool {
        (self.pos as u64) * 8 > u64::from(self.count) + (end as u64) * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unstuffing_table() {
        let rows: [(&str, &[u8], &[u8], usize); 5] = [
            ("plain bytes pass through", &[1, 2, 3], &[1, 2, 3], 1),
            ("stuffed ff00 becomes ff", &[1, 0xFF, 0, 2], &[1, 0xFF, 2], 1),
            ("restart marker splits segments", &[1, 0xFF, 0xD0, 2], &[1, 2], 2),
            ("eoi ends the scan", &[1, 0xFF, 0xD9, 2], &[1], 1),
            ("fill bytes before a marker are dropped", &[1, 0xFF, 0xFF, 0xD1, 2], &[1, 2], 2),
        ];
        for (name, input, want, segments) in rows {
            let e = unstuff(input);
            assert_eq!(&e.data[..e.data.len() - PAD], want, "{name}");
            assert_eq!(e.segments.len(), segments, "{name}");
        }
    }

    #[test]
    fn reader_returns_bits_in_order_and_detects_overrun() {
        let e = unstuff(&[0b1010_1100, 0xFF, 0x00, 0x0F]);
        let mut b = Bits::new(&e.data);
        let mut got = Vec::new();
        for n in [3u32, 5, 8, 4, 4] {
            b.refill();
            got.push(b.peek(n));
            b.consume(n);
        }
        assert_eq!(got, [0b101, 0b01100, 0xFF, 0, 0xF]);
        assert!(!b.overran(3), "exactly 24 bits used");
        b.refill();
        b.consume(1);
        assert!(b.overran(3), "one bit past the end");
    }
}
