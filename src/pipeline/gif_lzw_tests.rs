use std::collections::HashMap;

use super::*;

/// A small deterministic generator (xorshift64*), so the random rows are the same on every run.
pub(crate) struct Rng(pub u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// GIF codes packed least significant bit first.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    buf: u64,
    count: u32,
}

impl BitWriter {
    fn put(&mut self, code: usize, width: u32) {
        self.buf |= (code as u64) << self.count;
        self.count += width;
        while self.count >= 8 {
            self.out.push(self.buf as u8);
            self.buf >>= 8;
            self.count -= 8;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.count > 0 {
            self.out.push(self.buf as u8);
        }
        self.out
    }
}

/// A plain reference LZW encoder for the tests. It writes each code at the width the decoder will
/// read it with (tracked by replaying the decoder's table growth), and when the table is full it
/// either sends a clear code or keeps going with 12-bit codes and no new entries ("deferred clear").
fn encode(data: &[u8], min: u8, clear_when_full: bool) -> Vec<u8> {
    let clear = 1usize << min;
    let mut w = BitWriter::default();
    // The decoder's view: code width, next entry, and whether a previous code exists.
    let (mut width, mut dec_next, mut dec_prev) = (u32::from(min) + 1, clear + 2, false);
    let mut emit = |w: &mut BitWriter, code: usize| {
        w.put(code, width);
        if code == clear {
            (width, dec_next, dec_prev) = (u32::from(min) + 1, clear + 2, false);
            return;
        }
        if dec_prev && dec_next < 4096 {
            dec_next += 1;
            if dec_next >= 1 << width && width < 12 {
                width += 1;
            }
        }
        dec_prev = true;
    };
    let mut dict: HashMap<(usize, u8), usize> = HashMap::new();
    let mut next = clear + 2;
    emit(&mut w, clear);
    let mut current: Option<usize> = None;
    for &byte in data {
        let Some(c) = current else {
            current = Some(usize::from(byte));
            continue;
        };
        if let Some(&code) = dict.get(&(c, byte)) {
            current = Some(code);
            continue;
        }
        emit(&mut w, c);
        if next < 4096 {
            dict.insert((c, byte), next);
            next += 1;
        } else if clear_when_full {
            emit(&mut w, clear);
            dict.clear();
            next = clear + 2;
        }
        current = Some(usize::from(byte));
    }
    if let Some(c) = current {
        emit(&mut w, c);
    }
    emit(&mut w, clear + 1);
    w.finish()
}

/// Ours, with room for `want` pixels.
fn ours(min: u8, data: &[u8], want: usize) -> Result<Vec<u8>, LzwError> {
    let mut out = vec![0u8; want + SLACK];
    let n = Lzw::default().decode(min, data, &mut out, want)?;
    out.truncate(n);
    Ok(out)
}

/// The `gif` crate's LZW decoder (weezl) on the same data: the oracle.
fn weezl(min: u8, data: &[u8]) -> Result<Vec<u8>, weezl::LzwError> {
    let mut out = Vec::new();
    let mut decoder = weezl::decode::Decoder::new(weezl::BitOrder::Lsb, min);
    decoder.into_vec(&mut out).decode(data).status?;
    Ok(out)
}

/// Pixels of `len` indices below `1 << bits`: runs, repeats and noise, so strings of every length occur.
fn pixels(rng: &mut Rng, len: usize, bits: u8) -> Vec<u8> {
    let mask = (1usize << bits) - 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let run = 1 + rng.below(40);
        match rng.below(3) {
            0 => out.extend(std::iter::repeat_n((rng.below(256) & mask) as u8, run)),
            1 if out.len() > 64 => {
                let from = rng.below(out.len() - run.min(out.len()));
                let copy: Vec<u8> = out[from..from + run.min(out.len() - from)].to_vec();
                out.extend(copy);
            }
            _ => out.extend((0..run).map(|_| (rng.below(256) & mask) as u8)),
        }
    }
    out.truncate(len);
    out
}

#[test]
fn round_trips_every_min_code_size_and_agrees_with_weezl() {
    // Minimum code size 1 is covered by the differential test below: its first codes cannot all be
    // written at the 2-bit width decoders start with, so a round trip is not defined for it.
    let mut rng = Rng(0x5eed);
    for min in 2..=8u8 {
        for (name, len) in [("one pixel", 1), ("a few", 7), ("small frame", 1000), ("large frame", 120_000)] {
            let data = pixels(&mut rng, len, min);
            let lzw = encode(&data, min, true);
            assert_eq!(ours(min, &lzw, len).as_ref(), Ok(&data), "min {min}, {name}");
            assert!(weezl(min, &lzw).is_ok_and(|w| w == data), "min {min}, {name}: the encoder is a valid oracle");
        }
    }
}

#[test]
fn a_full_table_works_with_and_without_a_clear_code() {
    let mut rng = Rng(7);
    // 8-bit noise fills the 4096-entry table within a few thousand codes.
    let data: Vec<u8> = (0..200_000).map(|_| rng.next() as u8).collect();
    for (name, clear_when_full) in [("clear when full", true), ("deferred clear: 12-bit codes, no new entries", false)]
    {
        let lzw = encode(&data, 8, clear_when_full);
        assert!(weezl(8, &lzw).is_ok_and(|w| w == data), "{name}: oracle");
        assert_eq!(ours(8, &lzw, data.len()).as_ref(), Ok(&data), "{name}");
    }
}

/// A table row: name, minimum code size, LZW data, pixels wanted, expected result.
type StreamRow = (&'static str, u8, Vec<u8>, usize, Result<Vec<u8>, LzwError>);

#[test]
fn edge_cases_of_the_stream() {
    let data = [1u8, 1, 1, 1, 2, 3, 1, 1, 1, 1, 2, 3];
    let full = encode(&data, 2, true);
    let rows: Vec<StreamRow> = vec![
        ("asking for fewer pixels stops there", 2, full.clone(), 5, Ok(data[..5].to_vec())),
        ("data ending early gives what was decoded", 2, full[..1].to_vec(), 12, Ok(vec![1])),
        ("data ending mid-stream, 16 bits: five codes", 2, full[..2].to_vec(), 12, Ok(vec![1, 1, 1, 1, 2])),
        ("no data at all is an empty frame", 2, vec![], 12, Ok(vec![])),
        ("an end code at once is an empty frame", 2, vec![0b0010_1100], 12, Ok(vec![])),
        ("no leading clear code is fine", 2, vec![0b0010_1001], 12, Ok(vec![1])),
        ("a first code past the literals is corrupt", 2, vec![0b0000_0110], 12, Err(LzwError::InvalidCode)),
        ("code 0 as min code size", 0, full.clone(), 12, Err(LzwError::MinCodeSize(0))),
        ("code 12 as min code size", 12, full.clone(), 12, Err(LzwError::MinCodeSize(12))),
    ];
    for (name, min, lzw, want, expected) in rows {
        assert_eq!(ours(min, &lzw, want), expected, "{name}");
    }
}

#[test]
fn random_streams_decode_exactly_as_weezl_does() {
    // Differential test on garbage: the same pixels where weezl decodes, an error where it fails.
    let mut rng = Rng(42);
    for round in 0..3000 {
        let min = 1 + (round % 8) as u8;
        let len = 1 + rng.below(if round % 10 == 0 { 3000 } else { 200 });
        let lzw: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let want = 1 << 22;
        match (weezl(min, &lzw), ours(min, &lzw, want)) {
            (Ok(a), Ok(b)) => assert!(a == b, "round {round}: {} vs {} pixels", a.len(), b.len()),
            (Err(_), Err(e)) => assert_eq!(e, LzwError::InvalidCode, "round {round}"),
            (a, b) => {
                panic!("round {round} (min {min}): weezl {:?}, ours {:?}", a.map(|v| v.len()), b.map(|v| v.len()))
            }
        }
    }
}

#[test]
fn an_output_without_slack_decodes_less_rather_than_overrunning() {
    let data = vec![3u8; 100];
    let lzw = encode(&data, 2, true);
    let mut out = vec![0u8; 100];
    let n = Lzw::default().decode(2, &lzw, &mut out, 100).unwrap();
    assert_eq!(n, 100 - SLACK);
    assert!(out[..n].iter().all(|&b| b == 3));
}
