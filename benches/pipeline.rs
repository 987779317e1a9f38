//! Criterion benchmarks of the whole in-process pipeline (probe → decode → resize → encode) on corpus photos.
//! `cargo bench --bench pipeline`; for the ratio against libvips use `cargo bench --bench compare`.

mod workloads;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use lambda_media_proxy::pipeline;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(20).measurement_time(Duration::from_secs(5));
    for w in workloads::WORKLOADS {
        let input = std::fs::read(workloads::corpus().join(w.file)).expect("corpus file");
        let plan = workloads::plan(w);
        group.bench_function(w.name, |b| {
            b.iter(|| pipeline::run(&plan, &input, Instant::now() + Duration::from_secs(60)).expect("pipeline"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
