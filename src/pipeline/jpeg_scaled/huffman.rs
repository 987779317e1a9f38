//! Huffman tables and the block decoder: one table lookup per coefficient in the common case.
//!
//! The lookup table is indexed by the next [`LOOKAHEAD`] bits. When a code *and* its extra (magnitude)
//! bits fit in those bits, the entry already holds the run, the signed value and the total length, so a
//! coefficient costs one load, one shift and one multiply-add per output sample (stb_image's "fast AC"
//! idea, our own code). Longer codes take the canonical-code path of the JPEG standard (Annex F.2.2.3).
//! Coefficients are not stored: each one is multiplied straight into the scaled output samples with the
//! weights of [`super::idct`], so no block is zeroed and no separate IDCT pass runs. Any invalid code or
//! coefficient index is an `Err(())`: the caller then lets libjpeg-turbo decode the file instead.

use super::bits::Bits;
use super::markers::HuffSpec;

/// Bits resolved by one table lookup.
pub const LOOKAHEAD: u32 = 10;

/// Entry flags: the entry is a complete (run, value) pair; an end of block; a code whose extra bits
/// did not fit (symbol in bits 8–15). An entry with none of them is a code longer than [`LOOKAHEAD`].
const FAST: u32 = 1 << 5;
const EOB: u32 = 1 << 6;
const SLOW: u32 = 1 << 7;
const LEN_MASK: u32 = 31;

/// One decoding table (DC or AC).
pub struct Table {
    lookup: Box<[u32; 1 << LOOKAHEAD]>,
    /// Largest code of each length (index = length), −1 when there is none.
    maxcode: [i32; 17],
    /// Symbol index = code + `delta[length]`.
    delta: [i32; 17],
    symbols: Vec<u8>,
}

/// Sign-extends `bits` of magnitude category `size` (JPEG F.2.2.1 EXTEND).
fn extend(bits: u32, size: u32) -> i32 {
    if size == 0 {
        0
    } else if bits < 1 << (size - 1) {
        bits as i32 - ((1 << size) - 1)
    } else {
        bits as i32
    }
}

impl Table {
    /// Builds the table of a DHT spec; `None` when the code lengths over-subscribe the code space.
    pub fn new(spec: &HuffSpec, dc: bool) -> Option<Table> {
        let mut t = Table {
            lookup: Box::new([0; 1 << LOOKAHEAD]),
            maxcode: [-1; 17],
            delta: [0; 17],
            symbols: spec.symbols.clone(),
        };
        let (mut code, mut index) = (0i32, 0usize);
        for len in 1..=16u32 {
            let count = usize::from(*spec.counts.get(len as usize - 1)?);
            if count > 0 {
                t.delta[len as usize] = index as i32 - code;
                for _ in 0..count {
                    let symbol = *spec.symbols.get(index)?;
                    if len <= LOOKAHEAD {
                        t.fill(code as u32, len, symbol, dc);
                    }
                    (code, index) = (code + 1, index + 1);
                }
                t.maxcode[len as usize] = code - 1;
            }
            if code > 1 << len {
                return None;
            }
            code <<= 1;
        }
        Some(t)
    }

    /// Fills every lookup slot whose leading `len` bits are `code`.
    fn fill(&mut self, code: u32, len: u32, symbol: u8, dc: bool) {
        let free = LOOKAHEAD - len;
        let (run, size) = if dc { (0, u32::from(symbol)) } else { (u32::from(symbol >> 4), u32::from(symbol & 15)) };
        for tail in 0..(1u32 << free) {
            let entry = if !dc && size == 0 && run != 15 {
                EOB | len
            } else if size <= free && size <= 15 {
                // Zero-run ZRL (run 15, size 0) is a "value" 0 at k + 15, so it needs no case of its own.
                let value = extend(tail >> (free - size), size);
                FAST | (len + size) | (run << 8) | ((value as u32) << 16)
            } else {
                SLOW | len | (u32::from(symbol) << 8)
            };
            if let Some(slot) = self.lookup.get_mut(((code << free) | tail) as usize) {
                *slot = entry;
            }
        }
    }

    /// The symbol of an entry that is not FAST: from the entry (SLOW) or by the canonical search.
    #[inline(never)]
    fn slow_symbol(&self, bits: &mut Bits, entry: u32) -> Result<u32, ()> {
        if entry & SLOW != 0 {
            bits.consume(entry & LEN_MASK);
            return Ok((entry >> 8) & 0xFF);
        }
        let code16 = bits.peek(16) as i32;
        for len in LOOKAHEAD + 1..=16 {
            let code = code16 >> (16 - len);
            if code <= self.maxcode[len as usize] {
                bits.consume(len);
                let index = usize::try_from(code + self.delta[len as usize]).map_err(|_| ())?;
                return self.symbols.get(index).map(|&s| u32::from(s)).ok_or(());
            }
        }
        Err(())
    }

    /// Reads `size` extra bits after a slow symbol and sign-extends them.
    fn slow_value(bits: &mut Bits, size: u32) -> i32 {
        if size == 0 {
            return 0;
        }
        let v = extend(bits.peek(size), size);
        bits.consume(size);
        v
    }

    #[inline(always)]
    fn entry(&self, bits: &Bits) -> u32 {
        self.lookup[bits.peek(LOOKAHEAD) as usize & ((1 << LOOKAHEAD) - 1)]
    }
}

/// Fixed-point fraction bits of the weights and accumulators.
pub const FRAC: u32 = 13;
/// The level shift (+128) and rounding, pre-added to every accumulator.
const BIAS: i32 = (128 << FRAC) + (1 << (FRAC - 1));

/// Decodes one block and returns its `N` scaled output samples in fixed point (see [`FRAC`]).
/// `pred` is the component's DC predictor; `w[k]` the weights of zig-zag coefficient `k`.
#[inline(always)]
pub fn block<const N: usize>(
    bits: &mut Bits,
    dc: &Table,
    ac: &Table,
    pred: &mut i32,
    w: &[[i32; N]; 64],
) -> Result<[i32; N], ()> {
    bits.refill();
    let e = dc.entry(bits);
    let diff = if e & FAST != 0 {
        bits.consume(e & LEN_MASK);
        (e as i32) >> 16
    } else {
        let size = dc.slow_symbol(bits, e)?;
        Table::slow_value(bits, size.min(15))
    };
    *pred = pred.wrapping_add(diff);
    // libjpeg keeps coefficients as 16-bit values; wrap the same way.
    let c0 = i32::from(*pred as i16);
    let mut out = [0i32; N];
    for (o, &wi) in out.iter_mut().zip(&w[0]) {
        *o = BIAS.wrapping_add(c0.wrapping_mul(wi));
    }
    let mut k = 1usize;
    while k < 64 {
        bits.refill();
        let e = ac.entry(bits);
        let (run, value);
        if e & FAST != 0 {
            bits.consume(e & LEN_MASK);
            (run, value) = (((e >> 8) & 15) as usize, (e as i32) >> 16);
        } else if e & EOB != 0 {
            bits.consume(e & LEN_MASK);
            break;
        } else {
            let symbol = ac.slow_symbol(bits, e)?;
            let (r, size) = (symbol >> 4, symbol & 15);
            if size == 0 && r != 15 {
                break;
            }
            (run, value) = (r as usize, Table::slow_value(bits, size));
        }
        k += run;
        let wk = w.get(k).ok_or(())?;
        if N > 1 {
            for (o, &wi) in out.iter_mut().zip(wk) {
                *o = o.wrapping_add(value.wrapping_mul(wi));
            }
        }
        k += 1;
    }
    Ok(out)
}
