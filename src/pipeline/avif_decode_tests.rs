use super::*;
use crate::pipeline::probe;
use crate::pipeline::test_util::corpus;

#[test]
fn smoke_corpus() {
    for name in ["formats/hopper.avif", "formats/exif-orientation.avif"] {
        let bytes = corpus(name);
        let info = probe::inspect(&bytes).unwrap();
        let items = avif_container::parse(&bytes).unwrap();
        eprintln!("{name}: {:?} alpha {} nclx {:?} icc {:?} tr {:?}", info.probe, items.alpha.is_some(), items.nclx, items.icc.map(|i| i.len()), items.transforms);
        let img = decode(&bytes, &info).unwrap();
        eprintln!("{} {} {} {:?}", img.width, img.height, img.alpha, &img.data[..12]);
    }
}
