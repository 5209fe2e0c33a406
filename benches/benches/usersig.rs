//! Criterion benches for UserSig v2 (digest §3): `sign` and `verify` of the §3.4 vector claims.

use std::hint::black_box;

use criterion::{criterion_main, Criterion};
use tim_model::usersig::{sign, verify, SecretKey};

const APPID: u64 = 1_400_000_000;
const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
const ADMIN: &str = "administrator";
const NOW: i64 = 1_700_000_000;
const EXPIRE: u64 = 86_400;

fn bench_usersig(c: &mut Criterion) {
    let key = SecretKey::new(KEY);
    let mut group = c.benchmark_group("usersig");
    group.bench_function("sign", |b| {
        b.iter(|| {
            sign(
                black_box(APPID),
                black_box(&key),
                black_box(ADMIN),
                black_box(EXPIRE),
                black_box(NOW),
            )
        })
    });
    let usersig = sign(APPID, &key, ADMIN, EXPIRE, NOW);
    group.bench_function("verify", |b| {
        b.iter(|| {
            verify(
                black_box(&usersig),
                black_box(APPID),
                black_box(&key),
                black_box(ADMIN),
                black_box(NOW),
            )
            .expect("the benchmarked usersig is valid")
        })
    });
    group.finish();
}

mod group {
    //! Private, so the `pub fn` that `criterion_group!` generates needs no doc comment.
    criterion::criterion_group!(benches, super::bench_usersig);
}

criterion_main!(group::benches);
