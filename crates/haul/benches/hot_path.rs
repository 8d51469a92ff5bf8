//! Client-side hot path without a database: executing claimed jobs (lookup, decode, handler
//! under timeout and panic guard) and building the completion statement's columns. A
//! regression here shows up without PostgreSQL in the loop.
//!
//! It calls `haul::bench_support`, which the library compiles only under `--cfg haul_bench`:
//! `RUSTFLAGS="--cfg haul_bench" cargo bench -p haul --bench hot_path`. Without the cfg this
//! bench only prints that command.

#[cfg(haul_bench)]
mod hot {
    use criterion::{BatchSize, Criterion, Throughput, criterion_group};
    use haul::bench_support::HotPath;

    const BATCH: usize = 1000;

    fn hot_path(c: &mut Criterion) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let hot = rt.block_on(async { HotPath::new() });
        let mut group = c.benchmark_group("hot_path");
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_function("execute_1000_noop_jobs", |b| {
            b.iter_batched(
                || HotPath::claimed(BATCH),
                |jobs| rt.block_on(hot.execute_all(jobs)),
                BatchSize::SmallInput,
            )
        });
        group.bench_function("completion_batch_1000", |b| {
            b.iter_batched(
                || rt.block_on(hot.execute_all(HotPath::claimed(BATCH))),
                |done| hot.completion_batch(&done),
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }

    criterion_group!(benches, hot_path);
}

#[cfg(haul_bench)]
criterion::criterion_main!(hot::benches);

#[cfg(not(haul_bench))]
fn main() {
    println!(
        "hot_path needs haul's bench_support, compiled only under --cfg haul_bench; run it with:\n  \
         RUSTFLAGS=\"--cfg haul_bench\" cargo bench -p haul --bench hot_path"
    );
}
