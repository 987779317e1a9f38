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

/// Entry layout: bits 0–5 the bits to consume (so `acc << entry` needs no mask on x86), then flags:
/// a complete (run, value) pair (value in bits 16–31, run in 8–11); an end of block; a code whose
/// extra bits did not fit (run in 8–11, size in 12–15: read them next). An entry with no flag is a
/// code longer than [`LOOKAHEAD`] (or no code at all).
const FAST: u32 = 1 << 6;
const EOB: u32 = 1 << 7;
const SLOW: u32 = 1 << 16;
const LEN_MASK: u32 = 63;

/// One decoding table (DC or AC).
pub struct Table {
    lookup: Box<[u32; 1 << LOOKAHEAD]>,
    /// Largest code of each length (index = length), −1 when there is none.
    maxcode: [i32; 17],
    /// Symbol index = code + `delta[length]`.
    delta: [i32; 17],
    symbols: Vec<u8>,
    /// A DC table (symbols are magnitude categories, not run/size pairs).
    dc: bool,
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
            dc,
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
            } else if size <= 15 {
                SLOW | len | (run << 8) | (size << 12)
            } else {
                // A DC category above 15 is invalid; the long path finds the code and refuses it.
                0
            };
            if let Some(slot) = self.lookup.get_mut(((code << free) | tail) as usize) {
                *slot = entry;
            }
        }
    }

    /// A code longer than [`LOOKAHEAD`] bits: its symbol by the canonical search, then its extra bits.
    /// Takes and returns the reader by value so the hot loop's copy never has its address taken.
    #[cold]
    #[inline(never)]
    fn long<'a>(&self, mut bits: Bits<'a>) -> Result<(u32, i32, Bits<'a>), ()> {
        let symbol = self.long_symbol(&mut bits)?;
        let size = if self.dc { symbol } else { symbol & 15 };
        if size > 15 {
            return Err(());
        }
        let value = if size == 0 { 0 } else { extend(bits.peek(size), size) };
        bits.consume(size);
        Ok((symbol, value, bits))
    }

    /// A code longer than [`LOOKAHEAD`] bits, by the canonical-code search (JPEG F.2.2.3).
    fn long_symbol(&self, bits: &mut Bits) -> Result<u32, ()> {
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

    #[inline(always)]
    fn entry(&self, bits: &Bits) -> u32 {
        self.lookup[bits.peek(LOOKAHEAD) as usize & ((1 << LOOKAHEAD) - 1)]
    }
}

/// Reads the extra bits of a SLOW entry (size 1–15, in bits 12–15) after consuming its code.
#[inline(always)]
fn slow_value(bits: &mut Bits, e: u32) -> i32 {
    bits.consume(e & LEN_MASK);
    let size = ((e >> 12) & 15).max(1);
    let value = extend(bits.peek(size), size);
    bits.consume(size);
    value
}

/// A DC difference or AC (symbol, value) that the lookup entry `e` did not resolve whole: extra bits
/// that did not fit, or a code longer than [`LOOKAHEAD`]. Refills before (these take up to 31 bits)
/// and after (so the caller's "≥ 56 − 10·i bits" budget holds again). Returns the symbol (for AC: run
/// in the high nibble; 0 for a SLOW DC entry) and the value.
#[cold]
#[inline(never)]
fn other<'a>(table: &Table, mut bits: Bits<'a>, e: u32) -> Result<(u32, i32, Bits<'a>), ()> {
    bits.refill();
    let (symbol, value) = if e & SLOW != 0 {
        let run = (e >> 8) & 15;
        let size = (e >> 12) & 15;
        (run << 4 | size, slow_value(&mut bits, e))
    } else {
        let (symbol, value, after) = table.long(bits)?;
        bits = after;
        (symbol, value)
    };
    bits.refill();
    Ok((symbol, value, bits))
}

/// Bits one FAST entry may take (code and extra bits within the lookahead).
const FAST_MAX: u32 = LOOKAHEAD;

/// AC symbols decoded between two refills in the steady state: a refill leaves ≥ 56 bits and each
/// FAST symbol takes ≤ [`FAST_MAX`], so five symbols always find the ≥ 10 bits their lookup needs.
const PER_REFILL: u32 = 5;
const _: () = assert!(56 >= PER_REFILL * FAST_MAX);

/// Decodes one AC symbol and adds its coefficient into `out`; `Ok(true)` when the block is complete
/// (end of block, or coefficient 63 done). The caller guarantees ≥ [`FAST_MAX`] buffered bits.
#[inline(always)]
fn ac_step<const N: usize>(
    bits: &mut Bits,
    ac: &Table,
    k: &mut usize,
    out: &mut [f32; N],
    w: &[[f32; N]; 64],
) -> Result<bool, ()> {
    let e = ac.entry(bits);
    let (run, value);
    if e & FAST != 0 {
        bits.consume(e & LEN_MASK);
        (run, value) = (((e >> 8) & 15) as usize, (e as i32) >> 16);
    } else if e & EOB != 0 {
        bits.consume(e & LEN_MASK);
        return Ok(true);
    } else if e & SLOW != 0 {
        // Code and extra bits take up to 25 bits: refill around them so the caller's budget holds.
        // Common enough (large coefficients behind short codes) to stay out of the cold call.
        bits.refill();
        (run, value) = (((e >> 8) & 15) as usize, slow_value(bits, e));
        bits.refill();
    } else {
        let (symbol, v, after) = other(ac, *bits, e)?;
        *bits = after;
        if symbol & 15 == 0 && symbol >> 4 != 15 {
            return Ok(true);
        }
        (run, value) = ((symbol >> 4) as usize, v);
    }
    *k += run;
    if *k > 63 {
        return Err(());
    }
    if N > 1 {
        let v = value as f32;
        for (o, &wi) in out.iter_mut().zip(&w[*k & 63]) {
            *o += v * wi;
        }
    }
    *k += 1;
    Ok(*k == 64)
}

/// Decodes one block and returns its `N` scaled output samples, level-shifted, plus ½ for rounding.
/// `pred` is the component's DC predictor; `w[k]` the weights of zig-zag coefficient `k`.
/// Not inlined: in a function of its own the bit buffer, `k` and the samples all fit in registers.
///
/// The refill is off the per-symbol path: one refill serves the DC symbol and four AC symbols, then
/// every further refill five (each FAST entry takes ≤ 10 bits of the ≥ 56 a refill leaves; the rare
/// other entries refill for themselves). Per symbol that leaves lookup → shift → lookup as the chain.
#[inline(never)]
pub fn block<const N: usize>(
    reader: &mut Bits,
    dc: &Table,
    ac: &Table,
    pred: &mut i32,
    w: &[[f32; N]; 64],
) -> Result<[f32; N], ()> {
    // A local copy keeps the bit buffer in registers through the coefficient loop.
    let mut bits = *reader;
    bits.refill();
    let e = dc.entry(&bits);
    let diff = if e & FAST != 0 {
        bits.consume(e & LEN_MASK);
        (e as i32) >> 16
    } else {
        let (_, value, after) = other(dc, bits, e)?;
        bits = after;
        value
    };
    *pred = pred.wrapping_add(diff);
    // libjpeg keeps coefficients as 16-bit values; wrap the same way.
    let c0 = f32::from(*pred as i16);
    let mut out = [0.0f32; N];
    for (o, &wi) in out.iter_mut().zip(&w[0]) {
        *o = 128.5 + c0 * wi;
    }
    let mut k = 1usize;
    let s = &mut bits;
    // ≥ 46 bits left: four symbols, then the steady state.
    let done = ac_step(s, ac, &mut k, &mut out, w)?
        || ac_step(s, ac, &mut k, &mut out, w)?
        || ac_step(s, ac, &mut k, &mut out, w)?
        || ac_step(s, ac, &mut k, &mut out, w)?;
    if !done {
        loop {
            s.refill();
            if ac_step(s, ac, &mut k, &mut out, w)?
                || ac_step(s, ac, &mut k, &mut out, w)?
                || ac_step(s, ac, &mut k, &mut out, w)?
                || ac_step(s, ac, &mut k, &mut out, w)?
                || ac_step(s, ac, &mut k, &mut out, w)?
            {
                break;
            }
        }
    }
    *reader = bits;
    Ok(out)
}

#[cfg(test)]
#[path = "huffman_tests.rs"]
mod tests;
