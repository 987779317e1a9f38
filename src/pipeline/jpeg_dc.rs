//! DC-only progressive JPEG: rewrites a progressive (SOF2) stream without its AC scans, so that a
//! 1/8-scaled decode reads a few hundred kilobytes instead of megabytes of Huffman data.
//!
//! Why it is exact: at scale 1/8 libjpeg-turbo's inverse DCT is 1×1 and reads only the DC coefficient of
//! each block, so the AC coefficients are decoded and then thrown away. A progressive file sends DC in
//! its own scans (Ss = Se = 0: a first scan, then successive-approximation refinements with Ah > 0,
//! which in libjpeg's standard script come *after* some AC scans), so dropping every scan with Ss > 0
//! and keeping all the others, tables included, gives the same DC coefficients and so the same 1/8
//! image (SPEC §2 "shrink-on-load"; libvips decodes the whole stream here, 270–500 ms for 15 MP).
//! One catch: libjpeg-turbo's block smoothing, which runs when AC data is missing, would cost a fifth of
//! the time and, with no AC data at all, interpolate DC values ("change_dc" in jdcoefct.c), blurring the
//! result. So every quantisation table's first AC entry is set to 0, which makes libjpeg-turbo skip
//! smoothing (the 1×1 inverse DCT reads only the DC entry); and, should a libjpeg-turbo ever smooth anyway,
//! each component also gets one synthetic all-zero AC scan (coefficient 1, every block an end-of-band run,
//! Al = 13) so that DC is never interpolated. The result is bit-exact for 4:4:4, grayscale and CMYK. With
//! subsampled chroma, libjpeg-turbo decodes chroma with a 2×2 inverse DCT at 1/8 (coefficients 0, 1, 8, 9),
//! which here sees DC only: SSIM 0.9998, PSNR ≈ 39 dB against the full decode.
//! The parser is deliberately strict: any marker, header or order it does not fully understand makes
//! it answer `None`, and the caller decodes the original stream. It knows nothing of pixels, of the
//! decoder, or of when a 1/8 decode is wanted.

/// Start of image, end of image, start of scan, progressive Huffman frame.
const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const SOF2: u8 = 0xC2;

/// What the parse has seen so far.
#[derive(Default)]
struct State {
    /// Component ids of the SOF2 frame (empty until it is seen).
    components: Vec<u8>,
    /// Blocks per component in a non-interleaved scan, in frame order.
    blocks: Vec<usize>,
    /// Components whose first DC scan (Ah = 0) has been kept.
    dc_started: Vec<u8>,
    /// AC scans left out.
    ac_skipped: usize,
}

impl State {
    /// Worth decoding instead of the original: a complete DC image and something actually left out.
    fn complete(&self) -> bool {
        !self.components.is_empty()
            && self.components.iter().all(|c| self.dc_started.contains(c))
            && self.ac_skipped > 0
    }
}

/// The DC scans of a progressive JPEG as a stream of its own (same tables, same frame, EOI at the
/// end), or `None` when `input` is not an 8-bit progressive Huffman JPEG that parses cleanly to its EOI
/// with at least one AC scan to leave out.
pub fn dc_only_stream(input: &[u8]) -> Option<Vec<u8>> {
    if input.get(..2)? != [0xFF, SOI] {
        return None;
    }
    let mut out = Vec::with_capacity(input.len() / 4);
    out.extend_from_slice(&[0xFF, SOI]);
    let mut state = State::default();
    let mut pos = 2;
    loop {
        let (marker, body) = next_marker(input, pos)?;
        match marker {
            EOI => {
                if !state.complete() {
                    return None;
                }
                push_zero_ac_scans(&mut out, &state);
                out.extend_from_slice(&[0xFF, EOI]);
                return Some(out);
            }
            SOS => {
                let end = scan_end(input, segment_end(input, body)?)?;
                if keep_scan(&mut state, input.get(body + 2..segment_end(input, body)?)?)? {
                    push_segment(&mut out, marker, input.get(body..end)?);
                }
                pos = end;
            }
            SOF2 => {
                let end = segment_end(input, body)?;
                read_frame(&mut state, input.get(body + 2..end)?)?;
                push_segment(&mut out, marker, input.get(body..end)?);
                pos = end;
            }
            0xDB => {
                let end = segment_end(input, body)?;
                push_segment(&mut out, marker, &without_smoothing(input.get(body..end)?)?);
                pos = end;
            }
            // Huffman tables, restart interval, application data and comments pass through unchanged.
            0xC4 | 0xDD | 0xE0..=0xEF | 0xFE => {
                let end = segment_end(input, body)?;
                push_segment(&mut out, marker, input.get(body..end)?);
                pos = end;
            }
            // Any other frame type (baseline, lossless, arithmetic, hierarchical), DNL, a stray RST…
            _ => return None,
        }
    }
}

/// The marker at `pos` (after any 0xFF fill bytes) and the index just past it.
fn next_marker(input: &[u8], pos: usize) -> Option<(u8, usize)> {
    if *input.get(pos)? != 0xFF {
        return None;
    }
    let mut at = pos + 1;
    while *input.get(at)? == 0xFF {
        at += 1;
    }
    Some((*input.get(at)?, at + 1))
}

/// End of the length-prefixed segment whose length field starts at `body`.
fn segment_end(input: &[u8], body: usize) -> Option<usize> {
    let len = usize::from(u16::from_be_bytes([*input.get(body)?, *input.get(body + 1)?]));
    (len >= 2 && body + len <= input.len()).then_some(body + len)
}

fn push_segment(out: &mut Vec<u8>, marker: u8, body: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(body);
}

/// Where the entropy-coded data starting at `from` ends: the first 0xFF that begins a marker other than
/// a restart marker (0xFF00 is a stuffed data byte, 0xFFD0–D7 are restarts inside the scan).
fn scan_end(input: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        i += memchr::memchr(0xFF, input.get(i..)?)?;
        let mut j = i + 1;
        while *input.get(j)? == 0xFF {
            j += 1;
        }
        match *input.get(j)? {
            0x00 | 0xD0..=0xD7 => i = j + 1,
            _ => return Some(i),
        }
    }
}

/// Reads an SOF2 header (after its length): 8-bit samples, 1 to 4 distinct components, one frame only.
fn read_frame(state: &mut State, header: &[u8]) -> Option<()> {
    let [precision, h1, h0, w1, w0, count, ref specs @ ..] = *header else {
        return None;
    };
    let (height, width) = (usize::from(u16::from_be_bytes([h1, h0])), usize::from(u16::from_be_bytes([w1, w0])));
    let count = usize::from(count);
    if precision != 8 || !state.components.is_empty() || !(1..=4).contains(&count) || specs.len() != count * 3 {
        return None;
    }
    let sampling = |s: &[u8]| (usize::from(s[1] >> 4), usize::from(s[1] & 15));
    let h_max = specs.chunks_exact(3).map(|s| sampling(s).0).max()?;
    let v_max = specs.chunks_exact(3).map(|s| sampling(s).1).max()?;
    for spec in specs.chunks_exact(3) {
        let (h, v) = sampling(spec);
        if state.components.contains(&spec[0]) || !(1..=4).contains(&h) || !(1..=4).contains(&v) || width * height == 0
        {
            return None;
        }
        state.components.push(spec[0]);
        // As libjpeg (jdinput.c): ceil(size × factor / (max factor × 8)) blocks each way.
        state.blocks.push((width * h).div_ceil(h_max * 8) * (height * v).div_ceil(v_max * 8));
    }
    Some(())
}

/// Reads an SOS header (after its length) and says whether the scan is a DC scan to keep (`Some(true)`)
/// or an AC scan to leave out (`Some(false)`); `None` for anything malformed or out of order.
fn keep_scan(state: &mut State, header: &[u8]) -> Option<bool> {
    let (&count, rest) = header.split_first()?;
    let count = usize::from(count);
    let [ss, se, ahal] = *rest.get(count * 2..)? else {
        return None;
    };
    let ids: Vec<u8> = rest.get(..count * 2)?.chunks_exact(2).map(|c| c[0]).collect();
    let known = ids.iter().all(|id| state.components.contains(id));
    if state.components.is_empty() || !(1..=4).contains(&count) || !known || se > 63 || ss > se {
        return None;
    }
    if ss > 0 {
        // Progressive AC scans carry one component each (ITU T.81 G.1.1.1.1).
        if count != 1 {
            return None;
        }
        state.ac_skipped += 1;
        return Some(false);
    }
    if se != 0 {
        return None;
    }
    if ahal >> 4 == 0 {
        state.dc_started.extend(ids);
    } else if !ids.iter().all(|id| state.dc_started.contains(id)) {
        return None;
    }
    Some(true)
}

/// A DQT segment (length field included) with the first AC quantizer of every table set to 0. libjpeg-turbo
/// turns block smoothing off when that value is 0 (`smoothing_ok` in jdcoefct.c), and the 1×1 inverse DCT
/// reads only the DC quantizer, so the pixels do not change: the smoothing pass (a fifth of the DC-only
/// decode time) is skipped.
fn without_smoothing(segment: &[u8]) -> Option<Vec<u8>> {
    let mut out = segment.to_vec();
    let mut i = 2;
    while i < out.len() {
        let size = match out.get(i)? >> 4 {
            0 => 64,
            1 => 128,
            _ => return None,
        };
        let table = out.get_mut(i + 1..i + 1 + size)?;
        // Zig-zag entry 1 (one byte at 8-bit precision, two at 16-bit).
        table.get_mut(size / 64..size / 32)?.fill(0);
        i += 1 + size;
    }
    Some(out)
}

/// One all-zero AC scan (Ss = Se = 1) per component, after a DRI that turns restarts off and an AC
/// table of end-of-band run codes: EOBr (symbol r << 4, 0 ≤ r ≤ 14) is the 4-bit code r followed by r bits,
/// for a run of 2^r + those bits blocks (ITU T.81 G.1.2.2).
fn push_zero_ac_scans(out: &mut Vec<u8>, state: &State) {
    out.extend_from_slice(&[0xFF, 0xDD, 0, 4, 0, 0]);
    out.extend_from_slice(&[0xFF, 0xC4, 0, 34, 0x10, 0, 0, 0, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend((0..15u8).map(|r| r << 4));
    for (&id, &blocks) in state.components.iter().zip(&state.blocks) {
        out.extend_from_slice(&[0xFF, SOS, 0, 8, 1, id, 0x00, 1, 1, 13]);
        let mut bits = BitWriter::default();
        let mut left = blocks;
        while left > 0 {
            let r = left.ilog2().min(14);
            let run = left.min((2 << r) - 1);
            bits.put(r, 4);
            bits.put((run - (1 << r)) as u32, r);
            left -= run;
        }
        bits.finish(out);
    }
}

/// Entropy-coded bits, MSB first, with 0xFF stuffed as 0xFF00 and the last byte padded with ones.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    acc: u32,
    used: u32,
}

impl BitWriter {
    fn put(&mut self, value: u32, count: u32) {
        for i in (0..count).rev() {
            self.acc = (self.acc << 1) | ((value >> i) & 1);
            self.used += 1;
            if self.used == 8 {
                self.flush_byte();
            }
        }
    }

    fn flush_byte(&mut self) {
        let byte = (self.acc & 0xFF) as u8;
        self.bytes.push(byte);
        if byte == 0xFF {
            self.bytes.push(0);
        }
        (self.acc, self.used) = (0, 0);
    }

    fn finish(mut self, out: &mut Vec<u8>) {
        if self.used > 0 {
            let pad = 8 - self.used;
            self.put((1 << pad) - 1, pad);
        }
        out.extend_from_slice(&self.bytes);
    }
}

#[cfg(test)]
#[path = "jpeg_dc_tests.rs"]
mod tests;
