//! AVIF input: the primary still image, AV1-decoded by rav1d and converted to 8-bit RGB(A).
//!
//! The container is read by `avif_container.rs`; this module runs rav1d (the Rust port of dav1d, through its
//! dav1d-compatible C API) on the colour item and on the alpha auxiliary item, then converts YUV to RGB as
//! libavif does by default: the matrix from the item's `nclx` box, else from the AV1 sequence header, BT.601 when
//! unspecified; the range from the AV1 sequence header (what the samples are); 8/10/12-bit; 4:0:0, 4:2:0, 4:2:2
//! and 4:4:4 (chroma replicated, as libyuv's default paths in libavif; the corpus AVIFs match libvips within one
//! level). One thread per decoder (our worker model is one image per core) and a frame-size limit equal to the
//! probed size, so a bitstream cannot allocate beyond what `check_limits` allowed. `irot`/`imir` are not applied
//! here: [`orientation`] hands them to the orientation step, which applies them after the resize, like EXIF. No
//! shrink-on-load (AV1 has no scaled decode). Grid (tiled) images are decoded tile by tile onto one canvas. An
//! ICC `colr`, or an `nclx` with other primaries than sRGB's (Display P3, BT.2020), is converted to sRGB by
//! icc.rs; HDR transfers (PQ, HLG) are not tone-mapped. rav1d's C API aborts the process on an internal panic (it
//! cannot unwind through `extern "C"`), so every rav1d call runs in a forked child (`isolated.rs`): a hostile
//! file costs a 422, not the server.
//! Knows nothing of geometry or output formats.

use std::borrow::Cow;
use std::ffi::c_int;
use std::ptr::NonNull;
use std::time::Instant;

use rav1d::include::dav1d::data::Dav1dData;
use rav1d::include::dav1d::dav1d::{Dav1dContext, Dav1dLogger, Dav1dSettings};
use rav1d::include::dav1d::headers::{DAV1D_PIXEL_LAYOUT_I400, DAV1D_PIXEL_LAYOUT_I420, DAV1D_PIXEL_LAYOUT_I422};
use rav1d::include::dav1d::picture::Dav1dPicture;
use rav1d::src::lib as dav1d;

use super::avif_container::{self, Av1Image, AvifItems, Transform};
use super::avif_yuv::{self, Chroma, Encoding, Plane};
use super::isolated;
use super::orient::Orient;
use super::probe::SourceInfo;
use super::raster::Raster;
use super::PipelineError;

/// Decodes the primary image of an AVIF file to RGB(A), in stored orientation. The container is read
/// here; everything that calls into rav1d runs in a forked child ([`isolated`]), because a crafted
/// bitstream can make rav1d abort the process (see `rav1d_abort_reproducer`). The child is killed at
/// `deadline` (the request's: [`PipelineError::Timeout`], a 503).
pub fn decode(input: &[u8], info: &SourceInfo, deadline: Instant) -> Result<Raster, PipelineError> {
    let items = avif_container::parse(input)?;
    let limit = u64::from(info.probe.width) * u64::from(info.probe.height);
    isolated::run("AVIF decoder", isolated::reply_bound(limit), deadline, || decode_items(&items, limit))
}

/// [`decode`] in this process, unprotected: for tests and the isolation cost probe only.
#[cfg(test)]
pub fn decode_in_process(input: &[u8], info: &SourceInfo) -> Result<Raster, PipelineError> {
    let items = avif_container::parse(input)?;
    decode_items(&items, u64::from(info.probe.width) * u64::from(info.probe.height))
}

/// The colour item's AV1 base quantiser index and dav1d pixel layout (in process, single images only):
/// lets the encoder's tests read back what was written.
#[cfg(test)]
pub fn coding_facts(input: &[u8], info: &SourceInfo) -> Result<(u8, u32), PipelineError> {
    let items = avif_container::parse(input)?;
    let Av1Image::Single(color) = &items.color else {
        return Err(PipelineError::Unsupported("grid".into()));
    };
    let pic = Picture::decode(color, u64::from(info.probe.width) * u64::from(info.probe.height))?;
    // SAFETY: a decoded picture points at its live frame header.
    let header = pic.pic.frame_hdr.map(|f| unsafe { f.as_ref() });
    let q = header.map(|f| f.quant.yac).ok_or_else(|| PipelineError::Corrupt("no frame header".into()))?;
    Ok((q, pic.pic.p.layout))
}

/// The AV1 part: decodes the parsed items (colour, alpha, grid tiles) within `limit` pixels, in
/// straight alpha (a `prem` file's colour is divided by its alpha, as libavif does for its callers).
fn decode_items(items: &AvifItems, limit: u64) -> Result<Raster, PipelineError> {
    let mut img = decode_planes(items, limit)?;
    if items.premultiplied && img.alpha {
        super::raster::unpremultiply(&mut img.data);
    }
    Ok(img)
}

fn decode_planes(items: &AvifItems, limit: u64) -> Result<Raster, PipelineError> {
    match (&items.color, &items.alpha) {
        (Av1Image::Single(color), None) => single(items, color, None, limit),
        (Av1Image::Single(color), Some(Av1Image::Single(alpha))) => single(items, color, Some(alpha), limit),
        (Av1Image::Grid { columns, width, height, tiles }, alpha) => {
            let alpha_tiles = match alpha {
                None => None,
                Some(Av1Image::Grid { columns: c, tiles: a, .. }) if c == columns && a.len() == tiles.len() => Some(a),
                Some(_) => return Err(PipelineError::Unsupported("AVIF alpha tiled unlike its image".into())),
            };
            let grid = Grid { columns: *columns, width: *width, height: *height, limit };
            grid.decode(items, tiles, alpha_tiles.map(Vec::as_slice))
        }
        (Av1Image::Single(_), Some(_)) => Err(PipelineError::Unsupported("AVIF alpha tiled unlike its image".into())),
    }
}

/// One AV1 frame (and its alpha frame). The colour picture is released before the alpha one is
/// decoded: one AV1 picture alive at a time.
fn single(items: &AvifItems, color: &[u8], alpha: Option<&[u8]>, limit: u64) -> Result<Raster, PipelineError> {
    let mut img = Picture::decode(color, limit)?.to_rgb(items, alpha.is_some())?;
    if let Some(alpha) = alpha {
        Picture::decode(alpha, limit)?.fill_alpha(&mut img)?;
    }
    Ok(img)
}

/// A grid's layout and the resolution limit its output and tiles must respect.
struct Grid {
    columns: u32,
    width: u32,
    height: u32,
    limit: u64,
}

impl Grid {
    /// Decodes tile by tile (with its alpha tile) onto one canvas, so one tile's pictures are alive at a
    /// time. The first tile fixes the tile size; tiles must cover the output without a row or column
    /// wholly outside it (HEIF §6.6.2.3), which also bounds the decoding work by the output size.
    fn decode(
        &self,
        items: &AvifItems,
        tiles: &[Cow<[u8]>],
        alpha: Option<&[Cow<[u8]>]>,
    ) -> Result<Raster, PipelineError> {
        let (w, h) = (self.width, self.height);
        if w == 0 || h == 0 || u64::from(w) * u64::from(h) > self.limit {
            return Err(PipelineError::Corrupt("AVIF: grid size out of range".into()));
        }
        let rows = u32::try_from(tiles.len()).map_err(|_| too_big())? / self.columns.max(1);
        let channels = if alpha.is_some() { 4 } else { 3 };
        let mut canvas =
            Raster { width: w, height: h, alpha: alpha.is_some(), data: vec![0; w as usize * h as usize * channels] };
        let mut size = None;
        for (i, tile) in tiles.iter().enumerate() {
            let mut t = Picture::decode(tile, self.limit)?.to_rgb(items, alpha.is_some())?;
            if let Some(a) = alpha.and_then(|a| a.get(i)) {
                Picture::decode(a, self.limit)?.fill_alpha(&mut t)?;
            }
            let (tw, th) = *size.get_or_insert((t.width, t.height));
            let covers = |n: u32, tile: u32, out: u32| {
                let (n, tile, out) = (u64::from(n), u64::from(tile), u64::from(out));
                n * tile >= out && n.saturating_sub(1) * tile < out
            };
            if (t.width, t.height) != (tw, th) || !covers(self.columns, tw, w) || !covers(rows, th, h) {
                return Err(PipelineError::Corrupt("AVIF: grid tiles do not tile the image".into()));
            }
            let i = u32::try_from(i).map_err(|_| too_big())?;
            blit(&mut canvas, &t, (i % self.columns) * tw, (i / self.columns) * th);
        }
        Ok(canvas)
    }
}

/// Copies `tile` onto `canvas` at (`x`, `y`), clipped to the canvas (same channel layout).
fn blit(canvas: &mut Raster, tile: &Raster, x: u32, y: u32) {
    let ch = canvas.channels();
    let width = tile.width.min(canvas.width.saturating_sub(x)) as usize * ch;
    let (cs, ts) = (canvas.stride(), tile.stride());
    for row in 0..tile.height.min(canvas.height.saturating_sub(y)) as usize {
        let at = (y as usize + row) * cs + x as usize * ch;
        if let (Some(dst), Some(src)) = (canvas.data.get_mut(at..at + width), tile.data.get(row * ts..row * ts + width))
        {
            dst.copy_from_slice(src);
        }
    }
}

/// The `irot`/`imir` transforms (applied in the order the item lists them, HEIF §6.5.10–12), as an
/// [`Orient`] from stored to displayed pixels; identity when the file has none or does not parse.
pub fn orientation(input: &[u8]) -> Orient {
    let Ok(items) = avif_container::parse(input) else { return Orient::IDENTITY };
    items.transforms.iter().fold(Orient::IDENTITY, |o, t| {
        o.then(match t {
            // `irot` turns anticlockwise; Orient::rotation turns clockwise.
            Transform::Rotate(quarters) => Orient::rotation(u16::from((4 - quarters % 4) % 4) * 90),
            // `imir` axis 0 is a vertical axis: left and right swap.
            Transform::Mirror(0) => Orient { transpose: false, flip_x: true, flip_y: false },
            Transform::Mirror(_) => Orient { transpose: false, flip_x: false, flip_y: true },
        })
    })
}

fn av1_err(what: &str, code: c_int) -> PipelineError {
    PipelineError::Corrupt(format!("AVIF: AV1 {what} failed ({code})"))
}

/// One decoded AV1 frame, released on drop, then its decoder (kept alive as long as the picture, whose
/// buffers come from the decoder's picture pool).
struct Picture {
    pic: Dav1dPicture,
    decoder: Decoder,
}

impl Drop for Picture {
    fn drop(&mut self) {
        // SAFETY: the picture was filled by dav1d_get_picture (or is default/empty, which unref accepts);
        // the decoder field is dropped after this.
        unsafe { dav1d::dav1d_picture_unref(Some(NonNull::from(&mut self.pic))) };
    }
}

/// A decoder context, closed on drop.
struct Decoder(Option<Dav1dContext>);

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: the context came from dav1d_open and is closed once, here.
        unsafe { dav1d::dav1d_close(Some(NonNull::from(&mut self.0))) };
    }
}

impl Decoder {
    fn open(frame_size_limit: u64) -> Result<Decoder, PipelineError> {
        let mut s = std::mem::MaybeUninit::<Dav1dSettings>::uninit();
        // SAFETY: dav1d_default_settings writes a whole Dav1dSettings into `s`.
        let mut s = unsafe {
            dav1d::dav1d_default_settings(NonNull::new_unchecked(s.as_mut_ptr()));
            s.assume_init()
        };
        s.n_threads = 1; // one image per core: no decoder threads of its own
        s.max_frame_delay = 1;
        s.all_layers = 0; // the highest-quality layer only, as libavif
        s.frame_size_limit = u32::try_from(frame_size_limit).unwrap_or(u32::MAX);
        // SAFETY: no callback, so nothing is ever called; decoder errors come back as result codes.
        s.logger = unsafe { Dav1dLogger::new(None, None) };
        let mut ctx = Decoder(None);
        // SAFETY: `ctx.0` and `s` are valid for the call; on failure dav1d leaves `ctx.0` as None.
        let r = unsafe { dav1d::dav1d_open(Some(NonNull::from(&mut ctx.0)), Some(NonNull::from(&mut s))) };
        if r.0 != 0 || ctx.0.is_none() {
            return Err(av1_err("decoder setup", r.0));
        }
        Ok(ctx)
    }
}

impl Picture {
    /// Decodes the one frame of an AVIF item's OBUs.
    fn decode(obus: &[u8], frame_size_limit: u64) -> Result<Picture, PipelineError> {
        let mut pic = Picture { pic: Dav1dPicture::default(), decoder: Decoder::open(frame_size_limit)? };
        if obus.is_empty() {
            return Err(PipelineError::Corrupt("AVIF: empty AV1 item".into()));
        }
        let mut data = Dav1dData::default();
        // SAFETY: dav1d_data_create allocates `obus.len()` bytes owned by `data`, which we fill and then
        // hand to the decoder; `data` is unreferenced below on every path (null means nothing was made).
        let buf = unsafe { dav1d::dav1d_data_create(Some(NonNull::from(&mut data)), obus.len()) };
        if buf.is_null() {
            return Err(PipelineError::Corrupt("AVIF: AV1 data allocation failed".into()));
        }
        // SAFETY: `buf` points to `obus.len()` writable bytes (just allocated, not aliased).
        unsafe { std::ptr::copy_nonoverlapping(obus.as_ptr(), buf, obus.len()) };
        let result = pic.run(&mut data);
        // SAFETY: `data` is ours (possibly already consumed, which unref accepts).
        unsafe { dav1d::dav1d_data_unref(Some(NonNull::from(&mut data))) };
        result.map(|()| pic)
    }

    /// Feeds `data` and takes the first picture out; a stream that yields none is corrupt.
    fn run(&mut self, data: &mut Dav1dData) -> Result<(), PipelineError> {
        // dav1d returns negated errno values; EAGAIN is 11 on Linux (x86-64 and aarch64).
        const EAGAIN: c_int = -11;
        let ctx = self.decoder.0;
        for _ in 0..64 {
            if data.sz > 0 {
                // SAFETY: the context is open and `data` is a live Dav1dData.
                let r = unsafe { dav1d::dav1d_send_data(ctx, Some(NonNull::from(&mut *data))) };
                if r.0 != 0 && r.0 != EAGAIN {
                    return Err(av1_err("decode", r.0));
                }
            }
            // SAFETY: the context is open and `self.pic` is a valid out-parameter.
            let r = unsafe { dav1d::dav1d_get_picture(ctx, Some(NonNull::from(&mut self.pic))) };
            match r.0 {
                0 => return Ok(()),
                e if e == EAGAIN && data.sz > 0 => continue,
                e => return Err(av1_err("decode", e)),
            }
        }
        Err(PipelineError::Corrupt("AVIF: AV1 stream yields no picture".into()))
    }
}

impl Picture {
    fn width_height(&self) -> Result<(usize, usize), PipelineError> {
        let p = &self.pic.p;
        match (usize::try_from(p.w), usize::try_from(p.h)) {
            (Ok(w), Ok(h)) if w > 0 && h > 0 => Ok((w, h)),
            _ => Err(PipelineError::Corrupt("AVIF: AV1 frame has no size".into())),
        }
    }

    /// Plane `i` (0 = Y, 1 = U, 2 = V) of `rows` rows of `row_samples` samples.
    fn plane(&self, i: usize, rows: usize, row_samples: usize) -> Result<Plane<'_>, PipelineError> {
        let hbd = self.pic.p.bpc > 8;
        let stride = self.pic.stride.get(i.min(1)).and_then(|s| usize::try_from(*s).ok()).unwrap_or(0);
        let row_bytes = row_samples * if hbd { 2 } else { 1 };
        let ptr = self.pic.data.get(i).copied().flatten();
        let (Some(ptr), true) = (ptr, stride >= row_bytes && rows > 0) else {
            return Err(PipelineError::Corrupt("AVIF: AV1 picture plane missing".into()));
        };
        let len = stride * (rows - 1) + row_bytes;
        // SAFETY: dav1d allocates each plane as `rows` rows of `stride` bytes (the last row at least
        // `row_bytes`), alive until the picture is unreferenced, which `self` outlives the borrow for.
        let data = unsafe { std::slice::from_raw_parts(ptr.as_ptr().cast::<u8>(), len) };
        Ok(Plane { data, stride, hbd })
    }

    /// The colour encoding: matrix from the container's `nclx` else the sequence header; range from
    /// the sequence header (the samples' truth, as libavif).
    fn encoding(&self, items: Option<&AvifItems>) -> Encoding {
        let depth = u32::try_from(self.pic.p.bpc).unwrap_or(0);
        // SAFETY: a picture from dav1d_get_picture points at its live sequence header.
        let seq = self.pic.seq_hdr.map(|s| unsafe { s.as_ref() });
        let full_range = seq.is_some_and(|s| s.color_range != 0);
        let seq_matrix = seq.map_or(2, |s| u16::try_from(s.mtrx).unwrap_or(2));
        let matrix = items.and_then(|i| i.nclx).map_or(seq_matrix, |n| n.matrix);
        Encoding { depth, full_range, matrix }
    }

    /// The colour picture as RGB, or RGBA (opaque until [`Picture::fill_alpha`]) when `alpha`.
    fn to_rgb(&self, items: &AvifItems, alpha: bool) -> Result<Raster, PipelineError> {
        let (w, h) = self.width_height()?;
        let (chroma, cw, ch) = match self.pic.p.layout {
            DAV1D_PIXEL_LAYOUT_I400 => (Chroma::Mono, 0, 0),
            DAV1D_PIXEL_LAYOUT_I420 => (Chroma::Half, w.div_ceil(2), h.div_ceil(2)),
            DAV1D_PIXEL_LAYOUT_I422 => (Chroma::HalfWidth, w.div_ceil(2), h),
            _ => (Chroma::Full, w, h),
        };
        let y = self.plane(0, h, w)?;
        let (u, v) = if chroma == Chroma::Mono {
            (None, None)
        } else {
            (Some(self.plane(1, ch, cw)?), Some(self.plane(2, ch, cw)?))
        };
        let channels = if alpha { 4 } else { 3 };
        let mut data = vec![0u8; w.checked_mul(h).and_then(|n| n.checked_mul(channels)).ok_or_else(too_big)?];
        avif_yuv::to_rgb([Some(y), u, v], chroma, self.encoding(Some(items)), w, h, &mut data, channels)?;
        let (width, height) = (u32::try_from(w).map_err(|_| too_big())?, u32::try_from(h).map_err(|_| too_big())?);
        Ok(Raster { width, height, alpha, data })
    }

    /// Writes this (alpha auxiliary) picture's luma into `img`'s alpha channel.
    fn fill_alpha(&self, img: &mut Raster) -> Result<(), PipelineError> {
        let (w, h) = self.width_height()?;
        if (w, h) != (img.width as usize, img.height as usize) || !img.alpha {
            return Err(PipelineError::Corrupt("AVIF: alpha plane size differs from the image".into()));
        }
        let a = self.plane(0, h, w)?;
        avif_yuv::fill_alpha(a, self.encoding(None), w, h, &mut img.data)
    }
}

fn too_big() -> PipelineError {
    PipelineError::Corrupt("AVIF: image size out of range".into())
}

#[cfg(test)]
#[path = "avif_decode_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "avif_pipeline_tests.rs"]
mod pipeline_tests;
