//! The block decoder against blocks encoded here, symbol by symbol, with real tables (those of
//! `eleph12mp.jpg`) and a generated table that has every AC symbol, short codes whose extra bits do not
//! fit the lookahead, and codes of 11–16 bits. With identity weights (`w[k]` = unit vector k, N = 64)
//! the decoder's output is the coefficients themselves, so every value, run, ZRL and EOB is checked
//! exactly, and blocks are decoded back to back so a wrong bit count shows up in the next block.

use super::super::bits::Bits;
use super::super::markers::{self, HuffSpec};
use super::{block, Table};
use crate::pipeline::test_util::corpus;

/// Canonical code (value, length) of every symbol in `spec` (JPEG Annex C).
fn codes(spec: &HuffSpec) -> Vec<Option<(u32, u32)>> {
    let mut out = vec![None; 256];
    let (mut code, mut symbols) = (0u32, spec.symbols.iter());
    for len in 1..=16u32 {
        for _ in 0..spec.counts[len as usize - 1] {
            let &s = symbols.next().expect("counts match symbols");
            out[usize::from(s)] = Some((code, len));
            code += 1;
        }
        code <<= 1;
    }
    out
}

/// A big-endian bit writer (no byte stuffing: the decoder reads unstuffed data).
#[derive(Default)]
struct Writer {
    bytes: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Writer {
    fn put(&mut self, value: u32, len: u32) {
        self.acc = (self.acc << len) | u64::from(value & ((1u32 << len) - 1));
        self.n += len;
        while self.n >= 8 {
            self.n -= 8;
            self.bytes.push((self.acc >> self.n) as u8);
        }
    }

    /// Pads the last byte with ones (as an encoder does) and appends the zero padding `Bits` expects.
    fn finish(mut self) -> Vec<u8> {
        self.put(0x7F, (8 - self.n % 8) % 8);
        self.bytes.extend([0; 16]);
        self.bytes
    }
}

struct Rng(u32);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0 as usize % n.max(1)
    }

    /// A random value of magnitude category `size` (1–15) and its extra bits (JPEG F.1.2.1).
    fn value(&mut self, size: u32) -> (i32, u32) {
        let low = 1i32 << (size - 1);
        let magnitude = low + self.below(low as usize) as i32;
        if self.below(2) == 0 {
            (magnitude, magnitude as u32)
        } else {
            (-magnitude, magnitude as u32 ^ ((1 << size) - 1))
        }
    }
}

/// Encodes one random block into `w` with the given tables; returns its zig-zag coefficients (the
/// DC one absolute, as the decoder's predictor sees it). Half the AC symbols come from the sixteen
/// shortest codes, so runs of short codes between refills are exercised as well as the long ones.
fn random_block(w: &mut Writer, rng: &mut Rng, dc: &HuffSpec, ac: &HuffSpec, pred: &mut i32) -> [i32; 64] {
    let (dc_codes, ac_codes) = (codes(dc), codes(ac));
    let mut coefs = [0i32; 64];
    let size = u32::from(dc.symbols[rng.below(dc.symbols.len())]);
    let (code, len) = dc_codes[size as usize].expect("own symbol");
    w.put(code, len);
    let diff = if size == 0 { (0, 0) } else { rng.value(size) };
    w.put(diff.1, size);
    *pred += diff.0;
    // The decoder keeps coefficients as 16-bit values, as libjpeg does.
    coefs[0] = i32::from(*pred as i16);
    let mut k = 1;
    while k < 64 {
        let pool = if rng.below(2) == 0 { &ac.symbols[..ac.symbols.len().min(16)] } else { &ac.symbols[..] };
        let symbol = pool[rng.below(pool.len())];
        let (run, size) = (usize::from(symbol >> 4), u32::from(symbol & 15));
        let (code, len) = ac_codes[usize::from(symbol)].expect("own symbol");
        if size == 0 && run != 15 {
            if rng.below(4) == 0 {
                w.put(code, len);
                break;
            }
            continue;
        }
        if k + run > 63 || (size == 0 && k + 16 > 63) {
            continue;
        }
        w.put(code, len);
        if size == 0 {
            k += 16;
            continue;
        }
        let (value, extra) = rng.value(size);
        w.put(extra, size);
        coefs[k + run] = value;
        k += run + 1;
    }
    coefs
}

/// Unit weights: output sample k is zig-zag coefficient k.
fn identity() -> Box<[[f32; 64]; 64]> {
    let mut w = Box::new([[0.0f32; 64]; 64]);
    for (k, row) in w.iter_mut().enumerate() {
        row[k] = 1.0;
    }
    w
}

/// Every AC symbol (EOB, ZRL, runs 0–15 × sizes 1–10) with lengths 2–12 and 16, short codes going
/// to small sizes first, so some ≤ 10-bit codes carry extra bits that do not fit the lookahead.
fn generated_ac() -> HuffSpec {
    let mut symbols: Vec<u8> = vec![0x00, 0xF0];
    symbols.extend((0..16u8).flat_map(|run| (1..=10u8).map(move |size| run << 4 | size)));
    symbols.sort_by_key(|s| (s & 15) + 2 * (s >> 4));
    let mut counts = [0u8; 16];
    for (len, n) in [(2, 1), (3, 2), (4, 2), (5, 3), (6, 4), (7, 5), (8, 6), (9, 8), (10, 10), (12, 100), (16, 21)] {
        counts[len - 1] = n;
    }
    HuffSpec { counts, symbols }
}

/// JPEG Annex K.3.1 luminance DC table.
fn annex_k_dc() -> HuffSpec {
    HuffSpec { counts: [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], symbols: (0..12).collect() }
}

fn table_pairs() -> Vec<(String, HuffSpec, HuffSpec)> {
    let header = markers::parse(&corpus("photos/eleph12mp.jpg")).expect("baseline header");
    let mut rows = vec![("generated, every AC symbol".to_string(), annex_k_dc(), generated_ac())];
    for c in &header.components {
        let (dc, ac) = (header.dc[c.td].clone().expect("dc"), header.ac[c.ta].clone().expect("ac"));
        rows.push((format!("eleph12mp component {}", c.id), dc, ac));
    }
    rows
}

#[test]
fn random_blocks_decode_to_their_exact_coefficients() {
    let weights = identity();
    for (name, dc, ac) in table_pairs() {
        let (dt, at) = (Table::new(&dc, true).expect("valid"), Table::new(&ac, false).expect("valid"));
        let (mut rng, mut w, mut pred) = (Rng(0x1234_5678), Writer::default(), 0);
        let blocks: Vec<[i32; 64]> = (0..2000).map(|_| random_block(&mut w, &mut rng, &dc, &ac, &mut pred)).collect();
        let data = w.finish();
        let (mut bits, mut pred) = (Bits::new(&data), 0);
        for (i, want) in blocks.iter().enumerate() {
            let got = block(&mut bits, &dt, &at, &mut pred, &weights).unwrap_or_else(|()| panic!("{name}: block {i}"));
            // Every sample starts at 128.5 (level shift and rounding); the coefficients are exact in f32.
            let got: Vec<i32> = got.iter().map(|&s| (s - 128.5) as i32).collect();
            assert_eq!(&got[..], &want[..], "{name}: block {i}");
        }
        assert!(!bits.overran(data.len() - 16), "{name}: read past the data");
    }
}

#[test]
fn a_run_past_coefficient_63_is_an_error() {
    let (dc, ac) = (annex_k_dc(), generated_ac());
    let (dt, at) = (Table::new(&dc, true).expect("valid"), Table::new(&ac, false).expect("valid"));
    let (dcc, acc) = (codes(&dc), codes(&ac));
    let mut w = Writer::default();
    let (code, len) = dcc[0].expect("category 0");
    w.put(code, len);
    // Four times (run 15, size 1): the fourth lands on k = 64.
    for _ in 0..4 {
        let (code, len) = acc[0xF1].expect("symbol F1");
        w.put(code, len);
        w.put(1, 1);
    }
    let data = w.finish();
    let mut pred = 0;
    assert!(block(&mut Bits::new(&data), &dt, &at, &mut pred, &identity()).is_err());
}
