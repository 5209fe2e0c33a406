//! Criterion bench of the storage backends: `import_messages` of one 20-message batch (the seed
//! edition's request limit) into one group, for `MemoryStore` and `SqliteStore` on a real file
//! (WAL, `synchronous=FULL`, so every batch pays one durable commit). Throughput is in messages.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_main, Bencher, Criterion, Throughput};
use tim_model::api::import_group::GroupProfile;
use tim_model::GroupType;
use tim_server::store::memory::MemoryStore;
use tim_server::store::sqlite::SqliteStore;
use tim_server::store::{DedupRule, NewGroup, NewMember, NewMessage, Role, Store};

/// Messages per `import_messages` call (seed edition: 20 a request).
const BATCH: usize = 20;
/// Members of the benchmarked group: every import resets their unread counts.
const MEMBERS: usize = 100;
/// The group is dismissed and recreated (untimed) after this many batches, to bound its size.
const BATCHES_PER_GROUP: u64 = 1000;
/// The seed edition's duplicate rule: a 300-second window on `SendTime`.
const DEDUP: DedupRule = DedupRule::send_time(300);
const GROUP: &str = "@TGS#BENCH00001";
const T0: i64 = 1_600_000_000;

/// One group being filled batch after batch.
struct Fixture<'a> {
    store: &'a dyn Store,
    batch: Vec<NewMessage>,
    batches_in_group: u64,
    next_random: u32,
}

impl<'a> Fixture<'a> {
    fn new(store: &'a dyn Store) -> Self {
        let body = serde_json::json!([{
            "MsgType": "TIMTextElem",
            "MsgContent": {"Text": "A typical imported chat line, about eighty bytes of UTF-8 text. 你好"}
        }])
        .to_string();
        let batch = (0..BATCH)
            .map(|i| NewMessage {
                from_account: format!("member{:03}", i % MEMBERS),
                send_time: T0,
                random: 0,
                random_supplied: true,
                body_json: body.clone(),
                cloud_custom_data: None,
            })
            .collect();
        let mut fixture = Fixture {
            store,
            batch,
            batches_in_group: 0,
            next_random: 0,
        };
        fixture.recreate_group();
        fixture
    }

    fn recreate_group(&mut self) {
        if self.store.group(GROUP).expect("group readable").is_some() {
            self.store.destroy_group(GROUP).expect("group destroyed");
        }
        let members = (0..MEMBERS)
            .map(|i| NewMember {
                account: format!("member{i:03}"),
                role: if i == 0 { Role::Owner } else { Role::Member },
                join_time: T0,
                unread_msg_num: None,
            })
            .collect();
        self.store
            .create_group(NewGroup {
                group_id: GROUP.to_owned(),
                create_time: T0 - 1,
                profile: GroupProfile::new(GroupType::Public, "bench"),
                members,
            })
            .expect("group created");
        self.batches_in_group = 0;
    }

    /// Prepares the next batch in place: fresh supplied randoms (none is a duplicate), later times.
    fn advance(&mut self) {
        if self.batches_in_group == BATCHES_PER_GROUP {
            self.recreate_group();
        }
        let base = T0 + (self.batches_in_group * BATCH as u64) as i64;
        for (i, m) in self.batch.iter_mut().enumerate() {
            m.random = self.next_random;
            m.send_time = base + i as i64;
            self.next_random = self.next_random.wrapping_add(1);
        }
        self.batches_in_group += 1;
    }
}

/// Times only the `import_messages` calls; batch preparation and group recreation are excluded.
fn import_batches(b: &mut Bencher<'_>, store: &dyn Store) {
    let mut fixture = Fixture::new(store);
    b.iter_custom(|iters| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            fixture.advance();
            let start = Instant::now();
            let outcomes = store
                .import_messages(black_box(GROUP), black_box(&fixture.batch), DEDUP)
                .expect("import succeeds");
            total += start.elapsed();
            debug_assert!(outcomes.iter().all(|o| !o.duplicate));
            black_box(outcomes);
        }
        total
    });
}

fn bench_store(c: &mut Criterion) {
    let mut group = c.benchmark_group("store/import_messages_20");
    group.throughput(Throughput::Elements(BATCH as u64));

    let memory = MemoryStore::new();
    group.bench_function("memory", |b| import_batches(b, &memory));

    // On the target directory's disk rather than a possible tmpfs, so that fsync is real.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let sqlite = SqliteStore::open(&dir.path().join("bench.db")).expect("store opens");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("sqlite", |b| import_batches(b, &sqlite));

    group.finish();
}

mod group {
    //! Private, so the `pub fn` that `criterion_group!` generates needs no doc comment.
    criterion::criterion_group!(benches, super::bench_store);
}

criterion_main!(group::benches);
