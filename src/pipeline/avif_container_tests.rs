use super::*;

/// A box: size, type, payload.
pub(crate) fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(body.len() + 8).expect("small box").to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
    out
}

/// A full box: version and flags before the payload.
pub(crate) fn full(kind: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
    let mut b = ((u32::from(version) << 24) | flags).to_be_bytes().to_vec();
    b.extend_from_slice(body);
    bx(kind, &b)
}

/// What [`build`] writes: one primary item (id 1) and an optional alpha item (id 2).
pub(crate) struct Spec<'a> {
    pub primary_type: [u8; 4],
    pub color: &'a [u8],
    pub alpha: Option<&'a [u8]>,
    /// Property boxes of the primary item, in association order (an `ispe` is added first).
    pub props: Vec<Vec<u8>>,
    pub size: (u32, u32),
    /// iloc version 1 with the colour payload in `idat` (construction method 1).
    pub in_idat: bool,
    /// The colour payload split into two extents.
    pub split: bool,
    /// With an alpha item: a `prem` reference says the colour is premultiplied by it.
    pub prem: bool,
}

impl<'a> Spec<'a> {
    pub(crate) fn still(color: &'a [u8], size: (u32, u32)) -> Spec<'a> {
        let (alpha, props) = (None, Vec::new());
        Spec { primary_type: *b"av01", color, alpha, props, size, in_idat: false, split: false, prem: false }
    }
}

fn ispe(size: (u32, u32)) -> Vec<u8> {
    full(b"ispe", 0, 0, &[size.0.to_be_bytes(), size.1.to_be_bytes()].concat())
}

fn infe(id: u16, kind: &[u8; 4]) -> Vec<u8> {
    full(b"infe", 2, 0, &[&id.to_be_bytes()[..], &[0, 0], kind, b"\0"].concat())
}

/// One `iloc` entry: (item, construction method, extents as (offset, length)).
type Loc = (u16, u16, Vec<(u32, u32)>);

/// An `iloc` box with 4-byte offsets and lengths.
fn iloc(entries: &[Loc], version: u8) -> Vec<u8> {
    let mut b = vec![0x44, 0x00];
    b.extend_from_slice(&u16::try_from(entries.len()).expect("few").to_be_bytes());
    for (id, method, extents) in entries {
        b.extend_from_slice(&id.to_be_bytes());
        if version == 1 {
            b.extend_from_slice(&method.to_be_bytes());
        }
        b.extend_from_slice(&[0, 0]); // data reference index
        b.extend_from_slice(&u16::try_from(extents.len()).expect("few").to_be_bytes());
        for (o, l) in extents {
            b.extend_from_slice(&o.to_be_bytes());
            b.extend_from_slice(&l.to_be_bytes());
        }
    }
    full(b"iloc", version, 0, &b)
}

fn meta(s: &Spec, mdat_at: u32) -> Vec<u8> {
    let n = u32::try_from(s.color.len()).expect("small");
    let half = n / 2;
    let color_extents = match (s.in_idat, s.split) {
        (true, _) => vec![(0, n)],
        (false, true) => vec![(mdat_at, half), (mdat_at + half, n - half)],
        (false, false) => vec![(mdat_at, n)],
    };
    let mut locs = vec![(1u16, u16::from(s.in_idat), color_extents)];
    let mut infes = infe(1, &s.primary_type);
    let mut props = vec![ispe(s.size)];
    props.extend(s.props.iter().cloned());
    let mut assoc = vec![(1u16, (1..=props.len()).collect::<Vec<_>>())];
    let mut refs = Vec::new();
    if let Some(a) = s.alpha {
        let at = if s.in_idat { mdat_at } else { mdat_at + n };
        locs.push((2, 0, vec![(at, u32::try_from(a.len()).expect("small"))]));
        infes.extend(infe(2, b"av01"));
        props.push(full(b"auxC", 0, 0, b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha\0"));
        props.push(ispe(s.size));
        assoc.push((2, vec![props.len(), props.len() - 1]));
        let mut links = bx(b"auxl", &[0, 2, 0, 1, 0, 1]);
        if s.prem {
            links.extend(bx(b"prem", &[0, 1, 0, 1, 0, 2]));
        }
        refs = full(b"iref", 0, 0, &links);
    }
    let ipma: Vec<u8> = assoc
        .iter()
        .flat_map(|(id, p)| {
            let mut e = id.to_be_bytes().to_vec();
            e.push(u8::try_from(p.len()).expect("few"));
            e.extend(p.iter().map(|i| u8::try_from(*i).expect("few")));
            e
        })
        .collect();
    let ipma = full(b"ipma", 0, 0, &[&u32::try_from(assoc.len()).expect("few").to_be_bytes()[..], &ipma].concat());
    let iprp = bx(b"iprp", &[bx(b"ipco", &props.concat()), ipma].concat());
    let mut body = vec![0, 0, 0, 0];
    body.extend(full(b"hdlr", 0, 0, &[&[0u8; 4][..], b"pict", &[0u8; 13]].concat()));
    body.extend(full(b"pitm", 0, 0, &[0, 1]));
    body.extend(iloc(&locs, u8::from(s.in_idat)));
    body.extend(full(b"iinf", 0, 0, &[&u16::try_from(locs.len()).expect("few").to_be_bytes()[..], &infes].concat()));
    body.extend(refs);
    body.extend(iprp);
    if s.in_idat {
        body.extend(bx(b"idat", s.color));
    }
    bx(b"meta", &body)
}

/// An AVIF file for `s`: `ftyp`, `meta`, `mdat`.
pub(crate) fn build(s: &Spec) -> Vec<u8> {
    let ftyp = bx(b"ftyp", b"avif\0\0\0\0avifmif1miaf");
    let probe_len = meta(s, 0).len();
    let mdat_at = u32::try_from(ftyp.len() + probe_len + 8).expect("small");
    let mut mdat = if s.in_idat { Vec::new() } else { s.color.to_vec() };
    mdat.extend_from_slice(s.alpha.unwrap_or(&[]));
    [ftyp, meta(s, mdat_at), bx(b"mdat", &mdat)].concat()
}

/// A grid AVIF: item 1 the `grid` (descriptor in `idat`, output `size`), items 2… the `tiles` row by row
/// (in `mdat`), `columns` to a row.
pub(crate) fn build_grid(tiles: &[Vec<u8>], columns: u8, size: (u32, u32)) -> Vec<u8> {
    let rows = u8::try_from(tiles.len() / usize::from(columns)).expect("few");
    let descriptor = [&[0u8, 1, rows - 1, columns - 1][..], &size.0.to_be_bytes(), &size.1.to_be_bytes()].concat();
    let ids: Vec<u16> = (2..).take(tiles.len()).collect();
    let meta = |mdat_at: u32| {
        let mut locs = vec![(1u16, 1u16, vec![(0u32, descriptor.len() as u32)])];
        let mut at = mdat_at;
        for (id, t) in ids.iter().zip(tiles) {
            locs.push((*id, 0, vec![(at, t.len() as u32)]));
            at += t.len() as u32;
        }
        let infes: Vec<u8> =
            [infe(1, b"grid")].into_iter().chain(ids.iter().map(|id| infe(*id, b"av01"))).flatten().collect();
        let dimg = [
            &[0u8, 1][..],
            &(ids.len() as u16).to_be_bytes(),
            &ids.iter().flat_map(|i| i.to_be_bytes()).collect::<Vec<_>>(),
        ]
        .concat();
        let assoc: Vec<u8> = [(1u16, 1u8)]
            .into_iter()
            .chain(ids.iter().map(|id| (*id, 2u8)))
            .flat_map(|(id, p)| [&id.to_be_bytes()[..], &[1, p]].concat())
            .collect();
        let count = u32::try_from(ids.len() + 1).expect("few").to_be_bytes();
        let iprp = bx(
            b"iprp",
            &[bx(b"ipco", &[ispe(size), ispe((1, 1))].concat()), full(b"ipma", 0, 0, &[&count[..], &assoc].concat())]
                .concat(),
        );
        let mut body = vec![0, 0, 0, 0];
        body.extend(full(b"hdlr", 0, 0, &[&[0u8; 4][..], b"pict", &[0u8; 13]].concat()));
        body.extend(full(b"pitm", 0, 0, &[0, 1]));
        body.extend(iloc(&locs, 1));
        body.extend(full(
            b"iinf",
            0,
            0,
            &[&u16::try_from(locs.len()).expect("few").to_be_bytes()[..], &infes].concat(),
        ));
        body.extend(full(b"iref", 0, 0, &bx(b"dimg", &dimg)));
        body.extend(iprp);
        body.extend(bx(b"idat", &descriptor));
        bx(b"meta", &body)
    };
    let ftyp = bx(b"ftyp", b"avif\0\0\0\0avifmif1miaf");
    let mdat_at = u32::try_from(ftyp.len() + meta(0).len() + 8).expect("small");
    [ftyp, meta(mdat_at), bx(b"mdat", &tiles.concat())].concat()
}

/// The primary image's OBUs when it is one frame (empty for a grid).
pub(crate) fn single_color(file: &[u8]) -> Vec<u8> {
    match parse(file).expect("parses").color {
        Av1Image::Single(c) => c.into_owned(),
        Av1Image::Grid { .. } => Vec::new(),
    }
}

fn one<'a>(image: &'a Av1Image) -> &'a [u8] {
    match image {
        Av1Image::Single(c) => c,
        Av1Image::Grid { .. } => &[],
    }
}

#[test]
fn items_and_properties_are_found() {
    let color: Vec<u8> = (0..=99).collect();
    let alpha = [7u8; 10];
    let nclx = bx(b"colr", &[&b"nclx"[..], &[0, 1, 0, 13, 0, 6, 0x80]].concat());
    let icc = bx(b"colr", &[&b"prof"[..], b"ICC bytes"].concat());
    let turns = vec![bx(b"irot", &[1]), bx(b"imir", &[0])];
    fn edit<'a>(color: &'a [u8], f: impl FnOnce(&mut Spec<'a>)) -> Vec<u8> {
        let mut s = Spec::still(color, (4, 4));
        f(&mut s);
        build(&s)
    }
    let with = |f: &dyn Fn(&mut Spec)| edit(&color, f);
    let with_alpha = edit(&color, |s| s.alpha = Some(&alpha));
    type Check = fn(&AvifItems, &[u8]) -> bool;
    let rows: &[(&str, Vec<u8>, Check)] = &[
        ("one extent in mdat", with(&|_| {}), |i, c| one(&i.color) == c && i.alpha.is_none() && i.nclx.is_none()),
        ("two extents are joined", with(&|s| s.split = true), |i, c| one(&i.color) == c),
        ("iloc v1, payload in idat", with(&|s| s.in_idat = true), |i, c| one(&i.color) == c),
        ("alpha auxiliary item", with_alpha, |i, _| i.alpha.as_ref().map(one) == Some(&[7u8; 10][..])),
        ("nclx colour", with(&|s| s.props = vec![nclx.clone()]), |i, _| {
            i.nclx == Some(Nclx { primaries: 1, transfer: 13, matrix: 6, full_range: true })
        }),
        ("ICC colour", with(&|s| s.props = vec![icc.clone()]), |i, _| i.icc == Some(&b"ICC bytes"[..])),
        ("irot then imir, in order", with(&|s| s.props = turns.clone()), |i, _| {
            i.transforms == [Transform::Rotate(1), Transform::Mirror(0)]
        }),
    ];
    for (name, file, check) in rows {
        let items = parse(file).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(check(&items, &color), "{name}: {items:?}");
    }
}

#[test]
fn grids_come_out_as_their_tiles() {
    let tiles: Vec<Vec<u8>> = (1..=6u8).map(|i| vec![i; usize::from(i) + 3]).collect();
    let file = build_grid(&tiles, 3, (100, 40));
    let want = Av1Image::Grid {
        columns: 3,
        width: 100,
        height: 40,
        tiles: tiles.iter().map(|t| Cow::Borrowed(&t[..])).collect(),
    };
    assert_eq!(parse(&file).map(|i| i.color).ok(), Some(want));
    let wrong_count = build_grid(&tiles[..5], 5, (100, 40));
    let mut patched = wrong_count.clone();
    // The descriptor says 1 row of 5; make it 2 rows: 10 tiles expected, 5 referenced.
    let at = patched.windows(4).position(|w| w == [0, 1, 0, 4]).expect("descriptor");
    patched[at + 2] = 1;
    assert!(matches!(parse(&patched), Err(PipelineError::Corrupt(_))), "tile count must match the grid");
}

#[test]
fn unsupported_layouts_are_refused_cleanly() {
    let color = [1u8; 20];
    let hevc = build(&Spec { primary_type: *b"hvc1", ..Spec::still(&color, (4, 4)) });
    let sequence_only = [bx(b"ftyp", b"avis\0\0\0\0avismsf1"), bx(b"moov", &[0; 16])].concat();
    let rows: &[(&str, &[u8])] = &[("HEVC primary item", &hevc), ("image sequence without meta", &sequence_only)];
    for (name, file) in rows {
        assert!(matches!(parse(file), Err(PipelineError::Unsupported(_))), "{name}: {:?}", parse(file).map(|_| ()));
    }
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let color = [9u8; 40];
    let alpha = [3u8; 8];
    let file = build(&Spec { alpha: Some(&alpha), props: vec![bx(b"irot", &[3])], ..Spec::still(&color, (4, 4)) });
    assert!(parse(&file).is_ok());
    for len in 0..file.len() {
        assert!(parse(&file[..len]).is_err(), "cut at {len} of {}", file.len());
    }
    // Sizes that lie: every 32-bit field set to 0xFFFFFFFF in turn.
    for at in (0..file.len().saturating_sub(4)).step_by(4) {
        let mut bad = file.clone();
        bad[at..at + 4].copy_from_slice(&[0xFF; 4]);
        let _ = parse(&bad);
    }
}
