//! Table tests for `geometry.rs`: expected values worked out by hand from imgproxy v3's formulas
//! (`prepare.go`, `calc_position.go`), on the 4000×3000 size of `photos/eleph12mp.jpg`.

use super::*;
use crate::plan::{Crop, Extend, Padding};

fn with(f: impl Fn(&mut Processing)) -> Processing {
    let mut p = Processing::default();
    f(&mut p);
    p
}

fn sized(rt: ResizeType, w: u32, h: u32) -> impl Fn(&mut Processing) {
    move |p: &mut Processing| {
        p.resize_type = rt;
        p.width = w;
        p.height = h;
    }
}

fn grav(kind: GravityKind, x: f64, y: f64) -> Gravity {
    Gravity { kind, x, y }
}

/// (name, processing, expected final size, expected scaled size)
type SizeRow = (&'static str, Processing, (u32, u32), (u32, u32));

#[test]
fn final_and_scaled_sizes_follow_imgproxy() {
    use ResizeType::*;
    let rows: Vec<SizeRow> = vec![
        ("no options keep the source", with(|_| {}), (4000, 3000), (4000, 3000)),
        ("fit 400x0 derives the height", with(sized(Fit, 400, 0)), (400, 300), (400, 300)),
        ("fit 0x300 derives the width", with(sized(Fit, 0, 300)), (400, 300), (400, 300)),
        ("fit 400x400 fits inside", with(sized(Fit, 400, 400)), (400, 300), (400, 300)),
        ("fill 200x200 crops to the box", with(sized(Fill, 200, 200)), (200, 200), (267, 200)),
        ("fill-down 200x200 behaves as fill", with(sized(FillDown, 200, 200)), (200, 200), (267, 200)),
        ("force 300x100 stretches", with(sized(Force, 300, 100)), (300, 100), (300, 100)),
        ("force 400x0 keeps the source height", with(sized(Force, 400, 0)), (400, 3000), (400, 3000)),
        ("auto with a portrait box fits", with(sized(Auto, 300, 400)), (300, 225), (300, 225)),
        ("auto with a landscape box fills", with(sized(Auto, 400, 100)), (400, 100), (400, 300)),
        ("fit without enlarge never upscales", with(sized(Fit, 8000, 0)), (4000, 3000), (4000, 3000)),
        (
            "fit with enlarge upscales",
            with(|p| {
                sized(Fit, 8000, 0)(p);
                p.enlarge = true;
            }),
            (8000, 6000),
            (8000, 6000),
        ),
        ("fill without enlarge keeps the source", with(sized(Fill, 8000, 4000)), (4000, 3000), (4000, 3000)),
        (
            "fill-down without enlarge keeps the box ratio",
            with(sized(FillDown, 8000, 4000)),
            (4000, 2000),
            (4000, 3000),
        ),
        (
            "dpr 2 doubles the size",
            with(|p| {
                sized(Fit, 400, 0)(p);
                p.dpr = 2.0;
            }),
            (800, 600),
            (800, 600),
        ),
        (
            "dpr cannot upscale without enlarge",
            with(|p| {
                sized(Fit, 3000, 0)(p);
                p.dpr = 2.0;
            }),
            (4000, 3000),
            (4000, 3000),
        ),
        // imgproxy docs: "when both width and min-width are set, the final image will be cropped
        // according to width".
        (
            "min-width raises the scale, the box still crops",
            with(|p| {
                sized(Fit, 100, 100)(p);
                p.min_width = 400;
            }),
            (100, 100),
            (400, 300),
        ),
        (
            "min-height raises the scale, the box still crops",
            with(|p| {
                sized(Fit, 100, 100)(p);
                p.min_height = 600;
            }),
            (100, 100),
            (800, 600),
        ),
        (
            "min-width below the size changes nothing",
            with(|p| {
                sized(Fit, 400, 0)(p);
                p.min_width = 200;
            }),
            (400, 300),
            (400, 300),
        ),
        (
            "zoom halves",
            with(|p| {
                p.zoom_x = 0.5;
                p.zoom_y = 0.5;
            }),
            (2000, 1500),
            (2000, 1500),
        ),
        (
            "padding is added around, times dpr",
            with(|p| {
                sized(Fit, 400, 0)(p);
                p.dpr = 2.0;
                p.padding = Padding { top: 10, right: 10, bottom: 10, left: 10 };
            }),
            (840, 640),
            (800, 600),
        ),
    ];
    for (name, p, (w, h), (sw, sh)) in rows {
        let l = compute(4000, 3000, &p, false, 0).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((l.width, l.height), (w, h), "{name}: final size");
        assert_eq!((l.scaled_width, l.scaled_height), (sw, sh), "{name}: scaled size");
    }
}

/// (name, processing, expected fill crop after resize)
#[test]
fn fill_crop_is_placed_by_gravity() {
    let fill = |w, h, g: Gravity| {
        with(move |p| {
            sized(ResizeType::Fill, w, h)(p);
            p.gravity = g;
        })
    };
    let r = |x, y, width, height| Some(Rect { x, y, width, height });
    use GravityKind::*;
    let rows = vec![
        ("centre rounds half to even", fill(200, 200, grav(Center, 0.0, 0.0)), r(34, 0, 200, 200)),
        ("west is flush left", fill(200, 200, grav(West, 0.0, 0.0)), r(0, 0, 200, 200)),
        ("east is flush right", fill(200, 200, grav(East, 0.0, 0.0)), r(67, 0, 200, 200)),
        ("west offset in pixels", fill(200, 200, grav(West, 10.0, 0.0)), r(10, 0, 200, 200)),
        ("east offset moves inwards", fill(200, 200, grav(East, 10.0, 0.0)), r(57, 0, 200, 200)),
        ("fractional offset is a share of the width", fill(200, 200, grav(Center, 0.1, 0.0)), r(61, 0, 200, 200)),
        ("offsets are clamped inside", fill(200, 200, grav(West, 500.0, 0.0)), r(67, 0, 200, 200)),
        ("north is flush top", fill(400, 100, grav(North, 0.0, 0.0)), r(0, 0, 400, 100)),
        ("south is flush bottom", fill(400, 100, grav(South, 0.0, 0.0)), r(0, 200, 400, 100)),
        ("centre vertical", fill(400, 100, grav(Center, 0.0, 0.0)), r(0, 100, 400, 100)),
        ("south-east corner", fill(400, 100, grav(SouthEast, 0.0, 0.0)), r(0, 200, 400, 100)),
        ("focus point centres on it", fill(400, 100, grav(FocusPoint, 0.5, 0.9)), r(0, 200, 400, 100)),
        ("focus point near the top", fill(400, 100, grav(FocusPoint, 0.5, 0.2)), r(0, 10, 400, 100)),
        ("smart falls back to centre", fill(400, 100, grav(Smart, 0.0, 0.0)), r(0, 100, 400, 100)),
        ("fit has no fill crop", with(sized(ResizeType::Fit, 400, 100)), None),
    ];
    for (name, p, want) in rows {
        let l = compute(4000, 3000, &p, false, 0).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(l.result_crop, want, "{name}");
    }
}

/// (name, processing, expected pre-resize crop, expected scaled size)
#[test]
fn crop_happens_before_resize() {
    let crop = |w, h, g: Option<Gravity>| with(move |p| p.crop = Some(Crop { width: w, height: h, gravity: g }));
    let r = |x, y, width, height| Rect { x, y, width, height };
    use GravityKind::*;
    let rows = vec![
        ("pixels, centred", crop(1000.0, 1000.0, None), r(1500, 1000, 1000, 1000), (1000, 1000)),
        ("fractions of the source", crop(0.5, 0.5, None), r(1000, 750, 2000, 1500), (2000, 1500)),
        ("zero keeps the full side", crop(1000.0, 0.0, None), r(1500, 0, 1000, 3000), (1000, 3000)),
        ("own gravity east", crop(1000.0, 1000.0, Some(grav(East, 0.0, 0.0))), r(3000, 1000, 1000, 1000), (1000, 1000)),
        (
            "focus point",
            crop(1000.0, 1000.0, Some(grav(FocusPoint, 0.25, 0.5))),
            r(500, 1000, 1000, 1000),
            (1000, 1000),
        ),
        ("larger than the source is no crop", crop(5000.0, 5000.0, None), r(0, 0, 4000, 3000), (4000, 3000)),
        (
            "then resized",
            with(|p| {
                p.crop = Some(Crop { width: 2000.0, height: 2000.0, gravity: None });
                sized(ResizeType::Fit, 500, 0)(p);
            }),
            r(1000, 500, 2000, 2000),
            (500, 500),
        ),
        (
            "plan gravity is the default",
            with(|p| {
                p.crop = Some(Crop { width: 1000.0, height: 1000.0, gravity: None });
                p.gravity = grav(NorthWest, 0.0, 0.0);
            }),
            r(0, 0, 1000, 1000),
            (1000, 1000),
        ),
    ];
    for (name, p, want, scaled) in rows {
        let l = compute(4000, 3000, &p, false, 0).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(l.crop, want, "{name}: crop");
        assert_eq!((l.scaled_width, l.scaled_height), scaled, "{name}: scaled");
    }
}

/// (name, processing, expected canvas)
#[test]
fn extend_and_padding_compose_one_canvas() {
    let e = |width, height, x, y| Some(Embed { width, height, x, y });
    let on = |g: Option<Gravity>| Extend { enabled: true, gravity: g };
    use GravityKind::*;
    let rows = vec![
        (
            "extend centres on the target",
            with(|p| {
                sized(ResizeType::Fit, 5000, 5000)(p);
                p.extend = on(None);
            }),
            e(5000, 5000, 500, 1000),
        ),
        (
            "extend with gravity south-west",
            with(|p| {
                sized(ResizeType::Fit, 5000, 5000)(p);
                p.extend = on(Some(grav(SouthWest, 0.0, 0.0)));
            }),
            e(5000, 5000, 0, 2000),
        ),
        (
            "extend that fits is nothing",
            with(|p| {
                sized(ResizeType::Fit, 400, 300)(p);
                p.extend = on(None);
            }),
            None,
        ),
        (
            "extend to aspect ratio",
            with(|p| {
                sized(ResizeType::Fit, 400, 400)(p);
                p.extend_aspect_ratio = on(None);
            }),
            e(400, 400, 0, 50),
        ),
        (
            "padding in CSS order",
            with(|p| {
                sized(ResizeType::Fit, 400, 0)(p);
                p.padding = Padding { top: 1, right: 2, bottom: 3, left: 4 };
            }),
            e(406, 304, 4, 1),
        ),
        (
            "extend then padding",
            with(|p| {
                sized(ResizeType::Fit, 400, 400)(p);
                p.extend = on(None);
                p.padding = Padding { top: 10, right: 10, bottom: 10, left: 10 };
            }),
            e(420, 420, 10, 60),
        ),
    ];
    for (name, p, want) in rows {
        let l = compute(4000, 3000, &p, false, 0).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(l.embed, want, "{name}");
        if let Some(e) = want {
            assert_eq!((l.width, l.height), (e.width, e.height), "{name}: final size");
        }
    }
}

#[test]
fn result_dimension_limit_scales_the_result_down() {
    // (name, processing, max_result_dimension, expected result size), as imgproxy `limitScale`.
    let rows: Vec<(&str, Processing, u32, (u32, u32))> = vec![
        ("fit 800 under mrd 500 shrinks to 500", with(sized(ResizeType::Fit, 800, 0)), 500, (500, 375)),
        ("within the limit: untouched", with(sized(ResizeType::Fit, 800, 0)), 800, (800, 600)),
        ("no resize: the source shrinks", Processing::default(), 1000, (1000, 750)),
        ("fill keeps its aspect ratio", with(sized(ResizeType::Fill, 1000, 500)), 400, (400, 200)),
        (
            "padding counts and shrinks with the dpr",
            with(|p| {
                sized(ResizeType::Fit, 400, 0)(p);
                p.padding = crate::plan::Padding { top: 50, right: 50, bottom: 50, left: 50 };
            }),
            250,
            (250, 200),
        ),
    ];
    for (name, p, mrd, want) in rows {
        let l = compute(4000, 3000, &p, false, mrd).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((l.width, l.height), want, "{name}");
    }
    let huge = with(|p| {
        sized(ResizeType::Fit, 100_000, 0)(p);
        p.enlarge = true;
    });
    assert!(matches!(compute(4000, 3000, &huge, false, 0), Err(PipelineError::ResultTooBig(_))));
}

#[test]
fn vector_sources_may_grow_without_enlarge() {
    let p = with(sized(ResizeType::Fit, 1000, 0));
    let l = compute(100, 50, &p, true, 0).unwrap();
    assert_eq!((l.width, l.height), (1000, 500));
    let l = compute(100, 50, &p, false, 0).unwrap();
    assert_eq!((l.width, l.height), (100, 50));
}

#[test]
fn shrink_hint_is_the_tighter_axis_ratio() {
    let l = compute(4000, 3000, &with(sized(ResizeType::Fit, 400, 0)), false, 0).unwrap();
    assert_eq!(l.shrink_hint(), 10.0);
    let l = compute(4000, 3000, &with(sized(ResizeType::Force, 400, 1000)), false, 0).unwrap();
    assert_eq!(l.shrink_hint(), 3.0);
    let l = compute(4000, 3000, &with(|_| {}), false, 0).unwrap();
    assert_eq!(l.shrink_hint(), 1.0);
    assert!(l.is_identity_resize());
}

#[test]
fn degenerate_inputs_are_errors_or_sane() {
    assert!(compute(0, 10, &Processing::default(), false, 0).is_err());
    let hostile = with(|p| {
        p.zoom_x = f64::NAN;
        p.dpr = -3.0;
        p.gravity = grav(GravityKind::East, f64::INFINITY, f64::NAN);
        sized(ResizeType::Fill, 10, 10)(p);
    });
    let l = compute(1, 1, &hostile, false, 0).unwrap();
    assert_eq!((l.width, l.height), (1, 1));
}
