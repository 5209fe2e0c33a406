//! The shared store suite: every test runs once per backend (`memory`, `sqlite` on a temp file,
//! `postgres` on a fresh database of the test server, see `pg.rs`), plus SQLite-only tests of
//! durability, WAL mode and mid-call failures, and PostgreSQL-only tests of several stores
//! (replicas) on one database.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rstest::rstest;
use serde_json::json;
use tempfile::TempDir;
use tim_model::api::import_group::GroupProfile;
use tim_model::api::AppDefinedData;
use tim_model::GroupType;
use tim_server::store::memory::MemoryStore;
use tim_server::store::postgres::PostgresStore;
use tim_server::store::sqlite::SqliteStore;
use tim_server::store::{
    DedupRule, MemberInsert, MemberRecord, NewGroup, NewMember, NewMessage, Role, Store,
    StoreError, StoredMessage, StoredOutcome,
};

/// The seed edition's window (digest §7 Q6).
const WINDOW: i64 = 300;
/// The seed edition's duplicate rule: [`WINDOW`] on `SendTime`, imported at time 0.
const RULE: DedupRule = DedupRule::send_time(WINDOW);
/// A plausible creation time; message times are offsets from it.
const T0: i64 = 1_600_000_000;

// ---------------------------------------------------------------------------------------------
// Backends

/// A store under test, keeping its temporary directory alive for as long as the store.
struct Backend {
    store: Arc<dyn Store>,
    _dir: Option<TempDir>,
}

impl Deref for Backend {
    type Target = dyn Store;

    fn deref(&self) -> &(dyn Store + 'static) {
        &*self.store
    }
}

fn memory() -> Backend {
    Backend {
        store: Arc::new(MemoryStore::new()),
        _dir: None,
    }
}

fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&db_path(&dir)).unwrap();
    Backend {
        store: Arc::new(store),
        _dir: Some(dir),
    }
}

fn postgres() -> Backend {
    let url = crate::pg::fresh_database();
    let store = PostgresStore::open(&url).unwrap();
    Backend {
        store: Arc::new(store),
        _dir: None,
    }
}

fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("tim.db")
}

// ---------------------------------------------------------------------------------------------
// Builders

/// A profile that exercises every persisted field, including unmodelled ones.
fn profile(name: &str) -> GroupProfile {
    let mut p = GroupProfile::new(GroupType::Public, name);
    p.owner_account = Some("owner".into());
    p.group_id = Some("ignored-by-the-store".into());
    p.introduction = Some("简介 with \"quotes\"".into());
    p.notification = Some("line\nbreak".into());
    p.face_url = Some("https://example.invalid/a.png".into());
    p.max_member_count = Some(2000);
    p.apply_join_option = Some("FreeAccess".into());
    p.app_defined_data = Some(vec![AppDefinedData {
        key: "k".into(),
        value: "v".into(),
    }]);
    p.extra.insert("ShutUpAllMember".into(), json!("On"));
    p.extra.insert(
        "Nested".into(),
        json!({"a": [1, 2.5, null, true], "b": "ü"}),
    );
    p
}

fn member(account: &str, role: Role, join_time: i64, unread: Option<i64>) -> NewMember {
    NewMember {
        account: account.into(),
        role,
        join_time,
        unread_msg_num: unread,
    }
}

fn new_group(group_id: &str, members: Vec<NewMember>) -> NewGroup {
    NewGroup {
        group_id: group_id.into(),
        create_time: T0,
        profile: profile("group name"),
        members,
    }
}

/// Creates `group_id` with an owner and two members.
fn create(s: &dyn Store, group_id: &str) {
    s.create_group(new_group(
        group_id,
        vec![
            member("owner", Role::Owner, T0, None),
            member("alice", Role::Admin, T0 + 1, None),
            member("bob", Role::Member, T0 + 2, None),
        ],
    ))
    .unwrap();
}

fn text_body(text: &str) -> String {
    json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]).to_string()
}

/// A message with a supplied random.
fn msg(send_time: i64, random: u32) -> NewMessage {
    NewMessage {
        from_account: "alice".into(),
        send_time,
        random,
        random_supplied: true,
        body_json: text_body(&format!("r{random}@{send_time}")),
        cloud_custom_data: None,
    }
}

/// A message whose random the service generated.
fn generated(send_time: i64, random: u32) -> NewMessage {
    NewMessage {
        random_supplied: false,
        ..msg(send_time, random)
    }
}

/// `n` messages with distinct supplied randoms starting at `first_random`, one second apart.
fn batch(first_random: u32, n: u32) -> Vec<NewMessage> {
    (0..n)
        .map(|i| msg(T0 + 10 + i64::from(i), first_random + i))
        .collect()
}

fn stored(msg_seq: u64, msg_time: i64) -> StoredOutcome {
    StoredOutcome {
        msg_seq,
        msg_time,
        duplicate: false,
    }
}

fn duplicate_of(msg_seq: u64, msg_time: i64) -> StoredOutcome {
    StoredOutcome {
        msg_seq,
        msg_time,
        duplicate: true,
    }
}

fn seqs(outcomes: &[StoredOutcome]) -> Vec<u64> {
    outcomes.iter().map(|o| o.msg_seq).collect()
}

fn history_seqs(s: &dyn Store, group_id: &str) -> Vec<u64> {
    s.history(group_id, None, usize::MAX)
        .unwrap()
        .iter()
        .map(|m| m.msg_seq)
        .collect()
}

fn unread_counts(s: &dyn Store, group_id: &str) -> Vec<(String, u64)> {
    s.members(group_id)
        .unwrap()
        .into_iter()
        .map(|m| (m.account, m.unread_msg_num))
        .collect()
}

fn msg_count(s: &dyn Store, group_id: &str) -> u64 {
    s.group(group_id).unwrap().unwrap().msg_count
}

fn next_seq(s: &dyn Store, group_id: &str) -> u64 {
    s.group(group_id).unwrap().unwrap().next_msg_seq
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(matches!(r, Err(StoreError::GroupNotFound)), "{r:?}");
}

/// Every method on a group that does not exist: `group` is `None`, the others fail with `GroupNotFound`.
#[track_caller]
fn assert_missing_everywhere(s: &dyn Store, group_id: &str) {
    assert_eq!(s.group(group_id).unwrap(), None);
    assert_not_found(s.import_messages(group_id, &batch(1, 2), RULE));
    assert_not_found(s.import_messages(group_id, &[], RULE));
    assert_not_found(s.find_duplicates(group_id, &[Some((1, T0))], RULE));
    assert_not_found(s.import_members(group_id, &[member("carol", Role::Member, T0, Some(0))]));
    assert_not_found(s.members(group_id));
    assert_not_found(s.set_unread(group_id, "alice", 1));
    assert_not_found(s.history(group_id, None, 20));
    assert_not_found(s.messages_after(group_id, 0, 20));
    assert_not_found(s.destroy_group(group_id));
    assert!(!s
        .group_ids(None, usize::MAX)
        .unwrap()
        .iter()
        .any(|id| id == group_id));
}

// ---------------------------------------------------------------------------------------------
// Groups

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn create_and_read_back(#[case] s: Backend) {
    let group = new_group(
        "g1",
        vec![
            member("owner", Role::Owner, T0, None),
            // A new group has no messages: any requested unread count clamps to 0.
            member("alice", Role::Admin, T0 + 1, Some(5)),
            member("bob", Role::Member, T0 + 2, Some(-1)),
        ],
    );
    let created = s.create_group(group.clone()).unwrap();
    assert_eq!(created.group_id, "g1");
    assert_eq!(created.group_type, GroupType::Public);
    assert_eq!(created.create_time, T0);
    assert_eq!(
        created.profile, group.profile,
        "the profile is kept as given"
    );
    assert_eq!(created.next_msg_seq, 1);
    assert_eq!(created.last_msg_time, None);
    assert_eq!(created.msg_count, 0);
    assert_eq!(created.member_num, 3);
    assert_eq!(s.group("g1").unwrap(), Some(created));
    assert_eq!(
        s.members("g1").unwrap(),
        vec![
            MemberRecord {
                account: "owner".into(),
                role: Role::Owner,
                join_time: T0,
                unread_msg_num: 0,
                last_send_msg_time: None,
            },
            MemberRecord {
                account: "alice".into(),
                role: Role::Admin,
                join_time: T0 + 1,
                unread_msg_num: 0,
                last_send_msg_time: None,
            },
            MemberRecord {
                account: "bob".into(),
                role: Role::Member,
                join_time: T0 + 2,
                unread_msg_num: 0,
                last_send_msg_time: None,
            },
        ]
    );
    assert_eq!(s.group("other").unwrap(), None);
}

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn unknown_group_type_and_bare_profile_round_trip(#[case] s: Backend) {
    let group = NewGroup {
        group_id: "g-bare".into(),
        create_time: 0,
        profile: GroupProfile::new(GroupType::Unknown("FutureType".into()), ""),
        members: vec![],
    };
    let created = s.create_group(group.clone()).unwrap();
    assert_eq!(created.group_type, GroupType::Unknown("FutureType".into()));
    assert_eq!(created.member_num, 0);
    let read = s.group("g-bare").unwrap().unwrap();
    assert_eq!(read, created);
    assert_eq!(read.profile, group.profile);
    assert_eq!(s.members("g-bare").unwrap(), vec![]);
}

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn create_with_repeated_account_keeps_first(#[case] s: Backend) {
    let created = s
        .create_group(new_group(
            "g1",
            vec![
                member("owner", Role::Owner, T0, None),
                member("owner", Role::Member, T0 + 5, None),
            ],
        ))
        .unwrap();
    assert_eq!(created.member_num, 1);
    let members = s.members("g1").unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!((members[0].role, members[0].join_time), (Role::Owner, T0));
}

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn group_id_taken(#[case] s: Backend) {
    create(&*s, "g1");
    s.import_messages("g1", &batch(1, 3), RULE).unwrap();
    let before = s.group("g1").unwrap().unwrap();
    let mut again = new_group("g1", vec![member("mallory", Role::Owner, T0, None)]);
    again.profile.name = "other name".into();
    again.create_time = T0 + 99;
    assert!(matches!(
        s.create_group(again),
        Err(StoreError::GroupIdTaken)
    ));
    // The existing group is untouched.
    assert_eq!(s.group("g1").unwrap().unwrap(), before);
    assert!(s
        .members("g1")
        .unwrap()
        .iter()
        .all(|m| m.account != "mallory"));
    assert_eq!(history_seqs(&*s, "g1"), vec![3, 2, 1]);
}

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn never_created_group_is_not_found_everywhere(#[case] s: Backend) {
    create(&*s, "other");
    assert_missing_everywhere(&*s, "nope");
}

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn destroy_then_not_found_and_id_reusable(#[case] s: Backend) {
    create(&*s, "g1");
    create(&*s, "g2");
    s.import_messages("g1", &batch(7, 5), RULE).unwrap();
    s.import_messages("g2", &batch(7, 2), RULE).unwrap();
    s.destroy_group("g1").unwrap();
    assert_missing_everywhere(&*s, "g1");

    // Other groups are untouched.
    assert_eq!(history_seqs(&*s, "g2"), vec![2, 1]);
    assert_eq!(s.members("g2").unwrap().len(), 3);

    // The ID is free again, with a fresh sequence, no members but the new ones and no dedup state.
    let recreated = s
        .create_group(new_group("g1", vec![member("zed", Role::Owner, T0, None)]))
        .unwrap();
    assert_eq!(
        (
            recreated.next_msg_seq,
            recreated.msg_count,
            recreated.member_num,
            recreated.last_msg_time
        ),
        (1, 0, 1, None)
    );
    assert_eq!(s.members("g1").unwrap().len(), 1);
    assert_eq!(history_seqs(&*s, "g1"), Vec::<u64>::new());
    // Same randoms and times as before the destroy: stored, not duplicates, seq from 1 again.
    let out = s.import_messages("g1", &batch(7, 2), RULE).unwrap();
    assert_eq!(out, vec![stored(1, T0 + 10), stored(2, T0 + 11)]);
}

// ---------------------------------------------------------------------------------------------
// Sequence numbers

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn seq_starts_at_1_and_increases_without_gaps_across_calls(#[case] s: Backend) {
    create(&*s, "g1");
    let mut all = Vec::new();
    let mut random = 1;
    for n in [3, 0, 5, 1, 20] {
        let out = s.import_messages("g1", &batch(random, n), RULE).unwrap();
        assert_eq!(out.len(), n as usize);
        assert!(out.iter().all(|o| !o.duplicate));
        all.extend(seqs(&out));
        random += n;
    }
    assert_eq!(all, (1..=29).collect::<Vec<_>>());
    assert_eq!(history_seqs(&*s, "g1"), (1..=29).rev().collect::<Vec<_>>());
    let g = s.group("g1").unwrap().unwrap();
    assert_eq!((g.next_msg_seq, g.msg_count), (30, 29));
    // The last batch's newest message was sent at T0 + 10 + 19.
    assert_eq!(g.last_msg_time, Some(T0 + 29));
}

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn outcome_reports_send_time_and_groups_are_independent(#[case] s: Backend) {
    create(&*s, "a");
    create(&*s, "b");
    let out_a = s
        .import_messages("a", &[msg(T0 + 5, 1), generated(T0 + 7, 2)], RULE)
        .unwrap();
    // The same supplied random in another group is not a duplicate.
    let out_b = s.import_messages("b", &[msg(T0 + 5, 1)], RULE).unwrap();
    assert_eq!(out_a, vec![stored(1, T0 + 5), stored(2, T0 + 7)]);
    assert_eq!(out_b, vec![stored(1, T0 + 5)]);
    assert_eq!(s.group("a").unwrap().unwrap().last_msg_time, Some(T0 + 7));
}

// ---------------------------------------------------------------------------------------------
// Duplicates

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn duplicate_within_window_is_not_stored(#[case] s: Backend) {
    create(&*s, "g1");
    let t = T0 + 1000;
    assert_eq!(
        s.import_messages("g1", &[msg(t, 42)], RULE).unwrap(),
        vec![stored(1, t)]
    );
    // Both edges of the window, and inside it, report the original.
    for other in [t, t + WINDOW, t - WINDOW, t + 1] {
        let out = s.import_messages("g1", &[msg(other, 42)], RULE).unwrap();
        assert_eq!(out, vec![duplicate_of(1, t)], "send_time {other}");
    }
    assert_eq!(history_seqs(&*s, "g1"), vec![1]);
    let g = s.group("g1").unwrap().unwrap();
    assert_eq!(
        (g.next_msg_seq, g.msg_count, g.last_msg_time),
        (2, 1, Some(t))
    );
    // The next stored message takes the next seq: duplicates leave no gap.
    assert_eq!(
        s.import_messages("g1", &[msg(t, 43)], RULE).unwrap(),
        vec![stored(2, t)]
    );
}

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn same_random_just_outside_window_is_stored(#[case] s: Backend) {
    create(&*s, "g1");
    let t = T0 + 1000;
    s.import_messages("g1", &[msg(t, 42)], RULE).unwrap();
    let out = s
        .import_messages(
            "g1",
            &[msg(t + WINDOW + 1, 42), msg(t - WINDOW - 1, 42)],
            RULE,
        )
        .unwrap();
    assert_eq!(
        out,
        vec![stored(2, t + WINDOW + 1), stored(3, t - WINDOW - 1)]
    );
    assert_eq!(history_seqs(&*s, "g1"), vec![3, 2, 1]);
}

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn window_is_the_callers(#[case] s: Backend) {
    create(&*s, "g1");
    let t = T0 + 1000;
    s.import_messages("g1", &[msg(t, 42)], RULE).unwrap();
    // A window of 1 second: one second apart is a duplicate, two seconds apart is not.
    let out = s
        .import_messages(
            "g1",
            &[msg(t + 1, 42), msg(t - 2, 42)],
            DedupRule::send_time(1),
        )
        .unwrap();
    assert_eq!(out, vec![duplicate_of(1, t), stored(2, t - 2)]);
}

/// A window of 0 (or less), on either clock, turns duplicate detection off: even the same
/// supplied random with the same send time, in one call or across calls, is stored again.
#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn window_0_detects_no_duplicates(#[case] s: Backend) {
    create(&*s, "g1");
    let t = T0 + 1000;
    let off = [
        DedupRule::send_time(0),
        DedupRule::OFF,
        DedupRule::send_time(-1),
        DedupRule::wall(0, 0),
        DedupRule::wall(i64::MIN, 0),
    ];
    let out = s
        .import_messages("g1", &[msg(t, 42), msg(t, 42)], off[0])
        .unwrap();
    assert_eq!(out, vec![stored(1, t), stored(2, t)]);
    for (i, rule) in off.into_iter().enumerate() {
        assert_eq!(
            s.find_duplicates("g1", &[Some((42, t))], rule).unwrap(),
            vec![false],
            "{rule:?}"
        );
        let snap = s.import_snapshot("g1", &[Some((42, t))], rule).unwrap();
        assert_eq!(snap.unwrap().duplicates, vec![false], "{rule:?}");
        let seq = i as u64 + 3;
        let out = s.import_messages("g1", &[msg(t, 42)], rule).unwrap();
        assert_eq!(out, vec![stored(seq, t)], "{rule:?}");
    }
    assert_eq!(history_seqs(&*s, "g1"), (1..=7).rev().collect::<Vec<_>>());
    // With a window the same message is a duplicate of the first of them.
    assert_eq!(
        s.import_messages("g1", &[msg(t, 42)], RULE).unwrap(),
        vec![duplicate_of(1, t)]
    );
}

/// On the wall clock, a message re-sent with a send time far outside the window is a duplicate
/// when the original was imported at most the window before `now`, and is not once `now` has
/// moved past it. The original's import time counts, not a dropped duplicate's.
#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn wall_clock_measures_import_time(#[case] s: Backend) {
    create(&*s, "g1");
    let t = T0 + 1000;
    let now = T0 + 50_000;
    let far = t + 100 * WINDOW;
    assert_eq!(
        s.import_messages("g1", &[msg(t, 42)], DedupRule::wall(WINDOW, now))
            .unwrap(),
        vec![stored(1, t)]
    );
    for later in [now, now + 1, now + WINDOW - 1, now + WINDOW] {
        let rule = DedupRule::wall(WINDOW, later);
        assert_eq!(
            s.find_duplicates("g1", &[Some((42, far)), Some((43, t))], rule)
                .unwrap(),
            vec![true, false],
            "now {later}"
        );
        let out = s.import_messages("g1", &[msg(far, 42)], rule).unwrap();
        assert_eq!(out, vec![duplicate_of(1, t)], "now {later}");
    }
    // Past the window: new, even with the original's own send time.
    let past = DedupRule::wall(WINDOW, now + WINDOW + 1);
    assert_eq!(
        s.find_duplicates("g1", &[Some((42, t))], past).unwrap(),
        vec![false]
    );
    assert_eq!(
        s.import_messages("g1", &[msg(t, 42)], past).unwrap(),
        vec![stored(2, t)]
    );
    // That one was imported now: it is the original for the next window.
    let out = s
        .import_messages(
            "g1",
            &[msg(far, 42)],
            DedupRule::wall(WINDOW, now + 2 * WINDOW),
        )
        .unwrap();
    assert_eq!(out, vec![duplicate_of(2, t)]);
    assert_eq!(history_seqs(&*s, "g1"), vec![2, 1]);
}

/// On the wall clock, earlier messages of the same call count as imported at `now`: a repeated
/// supplied random is a duplicate whatever its send time.
#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn wall_clock_within_one_call(#[case] s: Backend) {
    create(&*s, "g1");
    create(&*s, "g2");
    let t = T0 + 10_000;
    let messages = [msg(t, 7), msg(t + 1000, 7), msg(t - 5000, 8), msg(t, 8)];
    let out = s
        .import_messages("g1", &messages, DedupRule::wall(WINDOW, T0 + 90_000))
        .unwrap();
    assert_eq!(
        out,
        vec![
            stored(1, t),
            duplicate_of(1, t),
            stored(2, t - 5000),
            duplicate_of(2, t - 5000)
        ]
    );
    // The same call on the send-time clock stores all four.
    let out = s.import_messages("g2", &messages, RULE).unwrap();
    assert_eq!(seqs(&out), vec![1, 2, 3, 4]);
    assert!(out.iter().all(|o| !o.duplicate));
}

/// Every stored message records its import time, whatever the rule of the call that stored it,
/// so switching the reading to the wall clock at run time finds messages stored under the
/// send-time reading (or with detection off).
#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn imported_at_survives_a_switch_of_clock(#[case] s: Backend) {
    create(&*s, "g1");
    let t = T0 + 1000;
    let now = T0 + 50_000;
    let send_time_rule = DedupRule {
        now,
        ..DedupRule::send_time(WINDOW)
    };
    let off_rule = DedupRule {
        now,
        ..DedupRule::OFF
    };
    s.import_messages("g1", &[msg(t, 42)], send_time_rule)
        .unwrap();
    s.import_messages("g1", &[msg(t, 43)], off_rule).unwrap();
    let wall = DedupRule::wall(WINDOW, now + 10);
    let far = t + 100 * WINDOW;
    assert_eq!(
        s.find_duplicates("g1", &[Some((42, far)), Some((43, far))], wall)
            .unwrap(),
        vec![true, true]
    );
    let out = s
        .import_messages("g1", &[msg(far, 42), msg(far, 43)], wall)
        .unwrap();
    assert_eq!(out, vec![duplicate_of(1, t), duplicate_of(2, t)]);
    // And back: the send-time reading ignores import times.
    assert_eq!(
        s.find_duplicates("g1", &[Some((42, far))], send_time_rule)
            .unwrap(),
        vec![false]
    );
}

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn generated_randoms_never_dedup(#[case] s: Backend) {
    create(&*s, "g1");
    let t = T0 + 1000;
    let out = s
        .import_messages(
            "g1",
            &[
                generated(t, 7),
                // Generated twice, same time: both stored.
                generated(t, 7),
                // Supplied, equal to generated ones: not a duplicate of them.
                msg(t, 7),
                // Generated, equal to a supplied one: not a duplicate either.
                generated(t, 7),
                // Supplied again: a duplicate of the supplied one only.
                msg(t, 7),
            ],
            RULE,
        )
        .unwrap();
    assert_eq!(
        out,
        vec![
            stored(1, t),
            stored(2, t),
            stored(3, t),
            stored(4, t),
            duplicate_of(3, t)
        ]
    );
    assert_eq!(msg_count(&*s, "g1"), 4);
}

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn duplicates_within_one_call(#[case] s: Backend) {
    create(&*s, "g1");
    let t = T0 + 1000;
    let out = s
        .import_messages(
            "g1",
            &[
                msg(t, 5),
                msg(t + 1, 6),
                msg(t + 2, 5),
                msg(t + 3, 6),
                msg(t + 4, 8),
                msg(t + 4, 8),
            ],
            RULE,
        )
        .unwrap();
    assert_eq!(
        out,
        vec![
            stored(1, t),
            stored(2, t + 1),
            duplicate_of(1, t),
            duplicate_of(2, t + 1),
            stored(3, t + 4),
            duplicate_of(3, t + 4),
        ]
    );
    assert_eq!(history_seqs(&*s, "g1"), vec![3, 2, 1]);
    assert_eq!(next_seq(&*s, "g1"), 4);
}

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn a_duplicate_is_never_an_original(#[case] s: Backend) {
    create(&*s, "g1");
    let t = T0 + 1000;
    let out = s
        .import_messages(
            "g1",
            &[msg(t, 9), msg(t + WINDOW, 9), msg(t + 2 * WINDOW, 9)],
            RULE,
        )
        .unwrap();
    // The second is a duplicate of the first and was not stored, so the third (outside the
    // first's window, inside the second's) is new.
    assert_eq!(
        out,
        vec![stored(1, t), duplicate_of(1, t), stored(2, t + 2 * WINDOW)]
    );
}

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn several_originals_report_the_earliest(#[case] s: Backend) {
    create(&*s, "g1");
    let t = T0 + 1000;
    s.import_messages("g1", &[msg(t, 9), msg(t + WINDOW + 1, 9)], RULE)
        .unwrap();
    // Within the window of both stored messages: the one with the lower seq is reported.
    let out = s
        .import_messages("g1", &[msg(t + WINDOW / 2, 9)], RULE)
        .unwrap();
    assert_eq!(out, vec![duplicate_of(1, t)]);
}

/// The import snapshot is `group` and `find_duplicates` read together.
#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn import_snapshot_is_group_and_duplicates_in_one_read(#[case] s: Backend) {
    assert_eq!(
        s.import_snapshot("g1", &[Some((42, T0))], RULE).unwrap(),
        None
    );
    create(&*s, "g1");
    let t = T0 + 1000;
    let empty = s.import_snapshot("g1", &[None], RULE).unwrap().unwrap();
    assert_eq!(empty.group.last_msg_time, None);
    assert!(empty.duplicates.is_empty(), "no candidate has a Random");
    s.import_messages("g1", &[msg(t, 42), msg(t + 5, 43)], RULE)
        .unwrap();
    let candidates = [
        Some((42, t + WINDOW)),
        Some((42, t + WINDOW + 1)),
        None,
        Some((43, t)),
        Some((44, t)),
    ];
    let snap = s.import_snapshot("g1", &candidates, RULE).unwrap().unwrap();
    let group = s.group("g1").unwrap().unwrap();
    assert_eq!(snap.group.group_type, group.group_type);
    assert_eq!(snap.group.create_time, group.create_time);
    assert_eq!(snap.group.last_msg_time, Some(t + 5));
    assert_eq!(
        snap.duplicates,
        s.find_duplicates("g1", &candidates, RULE).unwrap()
    );
    assert_eq!(snap.duplicates, vec![true, false, false, true, false]);
}

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn find_duplicates_applies_the_import_rule_read_only(#[case] s: Backend) {
    create(&*s, "g1");
    let t = T0 + 1000;
    s.import_messages("g1", &[msg(t, 42), generated(t, 43)], RULE)
        .unwrap();
    s.set_unread("g1", "alice", 1).unwrap();
    let before = (s.group("g1").unwrap(), s.members("g1").unwrap());
    let candidates = [
        Some((42, t + WINDOW)),     // within the window of a supplied random
        Some((42, t - WINDOW)),     // the other edge
        Some((42, t + WINDOW + 1)), // just outside
        Some((43, t)),              // 43 was generated: never a duplicate
        None,                       // no supplied random
        Some((44, t)),              // unknown random
        Some((44, t)),              // repeated among the candidates: only stored messages count
    ];
    let found = s.find_duplicates("g1", &candidates, RULE).unwrap();
    assert_eq!(found, vec![true, true, false, false, false, false, false]);
    assert_eq!(
        s.find_duplicates("g1", &[], RULE).unwrap(),
        Vec::<bool>::new()
    );
    assert_eq!(
        s.find_duplicates("g1", &[Some((42, t))], DedupRule::send_time(-1))
            .unwrap(),
        vec![false]
    );
    // Read-only: nothing stored, no seq consumed, unread counts kept.
    assert_eq!((s.group("g1").unwrap(), s.members("g1").unwrap()), before);
    // It agrees with what import_messages then does.
    let imported = s
        .import_messages(
            "g1",
            &[
                msg(t + WINDOW, 42),
                msg(t + WINDOW + 1, 42),
                generated(t, 43),
            ],
            RULE,
        )
        .unwrap();
    assert_eq!(
        imported,
        vec![duplicate_of(1, t), stored(3, t + WINDOW + 1), stored(4, t)]
    );
}

// ---------------------------------------------------------------------------------------------
// Members and unread counts

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn import_resets_every_unread_count(#[case] s: Backend) {
    create(&*s, "g1");
    s.import_messages("g1", &batch(1, 10), RULE).unwrap();
    let set_all = |n: i64| {
        for account in ["owner", "alice", "bob"] {
            assert_eq!(s.set_unread("g1", account, n).unwrap(), Some(n as u64));
        }
    };
    let zeros = vec![("owner".into(), 0), ("alice".into(), 0), ("bob".into(), 0)];

    set_all(4);
    s.import_messages("g1", &batch(100, 1), RULE).unwrap();
    assert_eq!(unread_counts(&*s, "g1"), zeros);

    // An empty import still resets, and stores nothing.
    set_all(3);
    assert_eq!(s.import_messages("g1", &[], RULE).unwrap(), vec![]);
    assert_eq!(unread_counts(&*s, "g1"), zeros);
    assert_eq!(next_seq(&*s, "g1"), 12);

    // So does an import whose messages are all duplicates.
    set_all(2);
    let out = s.import_messages("g1", &batch(100, 1), RULE).unwrap();
    assert!(out[0].duplicate);
    assert_eq!(unread_counts(&*s, "g1"), zeros);
}

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn import_members_clamps_unread(#[case] s: Backend) {
    create(&*s, "g1");
    s.import_messages("g1", &batch(1, 5), RULE).unwrap();
    let out = s
        .import_members(
            "g1",
            &[
                member("neg", Role::Member, T0 + 10, Some(-3)),
                member("mid", Role::Member, T0 + 11, Some(3)),
                member("exact", Role::Member, T0 + 12, Some(5)),
                member("above", Role::Member, T0 + 13, Some(99)),
                member("huge", Role::Member, T0 + 14, Some(i64::MAX)),
                member("min", Role::Member, T0 + 15, Some(i64::MIN)),
                member("none", Role::Admin, T0 + 16, None),
            ],
        )
        .unwrap();
    assert_eq!(out, vec![MemberInsert::Added; 7]);
    let unread: Vec<_> = unread_counts(&*s, "g1").into_iter().skip(3).collect();
    assert_eq!(
        unread,
        vec![
            ("neg".into(), 0),
            ("mid".into(), 3),
            ("exact".into(), 5),
            ("above".into(), 5),
            ("huge".into(), 5),
            ("min".into(), 0),
            ("none".into(), 0),
        ]
    );
    assert_eq!(s.group("g1").unwrap().unwrap().member_num, 10);
}

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn already_member_changes_nothing(#[case] s: Backend) {
    create(&*s, "g1");
    s.import_messages("g1", &batch(1, 5), RULE).unwrap();
    s.set_unread("g1", "alice", 2).unwrap();
    let before = s.members("g1").unwrap();
    let out = s
        .import_members(
            "g1",
            &[
                member("alice", Role::Member, T0 + 50, Some(5)),
                member("carol", Role::Member, T0 + 60, Some(1)),
                // Repeated within one call: the first wins.
                member("carol", Role::Admin, T0 + 70, Some(4)),
            ],
        )
        .unwrap();
    assert_eq!(
        out,
        vec![
            MemberInsert::AlreadyMember,
            MemberInsert::Added,
            MemberInsert::AlreadyMember
        ]
    );
    let after = s.members("g1").unwrap();
    assert_eq!(&after[..3], &before[..], "existing members are unchanged");
    assert_eq!(
        after[3],
        MemberRecord {
            account: "carol".into(),
            role: Role::Member,
            join_time: T0 + 60,
            unread_msg_num: 1,
            last_send_msg_time: None,
        }
    );
    assert_eq!(s.group("g1").unwrap().unwrap().member_num, 4);
    assert_eq!(s.import_members("g1", &[]).unwrap(), vec![]);
}

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn set_unread_clamps_and_ignores_non_members(#[case] s: Backend) {
    create(&*s, "g1");
    // No messages yet: everything clamps to 0.
    assert_eq!(s.set_unread("g1", "alice", 3).unwrap(), Some(0));
    s.import_messages("g1", &batch(1, 6), RULE).unwrap();
    for (requested, expected) in [
        (-1, 0),
        (0, 0),
        (2, 2),
        (6, 6),
        (7, 6),
        (i64::MAX, 6),
        (i64::MIN, 0),
    ] {
        assert_eq!(
            s.set_unread("g1", "alice", requested).unwrap(),
            Some(expected),
            "{requested}"
        );
        let alice = s
            .members("g1")
            .unwrap()
            .into_iter()
            .find(|m| m.account == "alice")
            .unwrap();
        assert_eq!(alice.unread_msg_num, expected);
    }
    s.set_unread("g1", "bob", 4).unwrap();
    assert_eq!(unread_counts(&*s, "g1")[2], ("bob".into(), 4));
    // A non-member: `None`, and no member appears.
    assert_eq!(s.set_unread("g1", "stranger", 1).unwrap(), None);
    assert_eq!(s.members("g1").unwrap().len(), 3);
    assert_eq!(s.group("g1").unwrap().unwrap().member_num, 3);
}

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn members_ordered_by_join_time_then_account(#[case] s: Backend) {
    s.create_group(new_group(
        "g1",
        vec![
            member("b", Role::Owner, T0 + 30, None),
            member("z", Role::Member, T0 + 10, None),
        ],
    ))
    .unwrap();
    s.import_members(
        "g1",
        &[
            member("a", Role::Member, T0 + 30, None),
            member("m", Role::Admin, T0 + 20, None),
            member("B", Role::Member, T0 + 30, None),
            member("é", Role::Member, T0 + 30, None),
        ],
    )
    .unwrap();
    let order: Vec<_> = s
        .members("g1")
        .unwrap()
        .into_iter()
        .map(|m| m.account)
        .collect();
    // Accounts compare bytewise (upper case before lower case, ASCII before other UTF-8).
    assert_eq!(order, vec!["z", "m", "B", "a", "b", "é"]);
}

// ---------------------------------------------------------------------------------------------
// History

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn history_pages_newest_first(#[case] s: Backend) {
    create(&*s, "g1");
    s.import_messages("g1", &batch(1, 20), RULE).unwrap();
    s.import_messages("g1", &batch(21, 5), RULE).unwrap();
    let page = |max_seq, limit| -> Vec<u64> {
        s.history("g1", max_seq, limit)
            .unwrap()
            .iter()
            .map(|m| m.msg_seq)
            .collect()
    };
    assert_eq!(page(None, 10), (16..=25).rev().collect::<Vec<_>>());
    assert_eq!(page(Some(15), 10), (6..=15).rev().collect::<Vec<_>>());
    assert_eq!(page(Some(5), 10), vec![5, 4, 3, 2, 1]);
    assert_eq!(page(Some(0), 10), Vec::<u64>::new());
    assert_eq!(page(None, 0), Vec::<u64>::new());
    assert_eq!(page(Some(1000), 3), vec![25, 24, 23]);
    assert_eq!(page(Some(u64::MAX), 1), vec![25]);
    assert_eq!(page(None, usize::MAX).len(), 25);
    // An empty group has an empty history.
    create(&*s, "empty");
    assert_eq!(s.history("empty", None, 20).unwrap(), vec![]);
}

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn history_returns_messages_byte_exact(#[case] s: Backend) {
    create(&*s, "g1");
    let bodies = [
        // Key order, whitespace, escapes and number spellings the store must not normalise.
        r#"[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi 你好 😀 \"q\" \\ \u0000\n"}}]"#.to_owned(),
        r#"[ {"MsgContent": {"Index": 6, "Data": "abc\u0000\u0001"}, "MsgType": "TIMFaceElem"} ]"#.to_owned(),
        r#"[{"MsgType":"TIMCustomElem","MsgContent":{"Data":"x","N":12345678901234567890,"F":1.0e10,"G":-0.0}}]"#
            .to_owned(),
        // Opaque: the store does not even require valid JSON.
        "not json at all".to_owned(),
        format!(r#"[{{"MsgType":"TIMTextElem","MsgContent":{{"Text":"{}"}}}}]"#, "x".repeat(8000)),
    ];
    let messages: Vec<NewMessage> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| NewMessage {
            from_account: format!("sender-{i}-账号"),
            send_time: T0 + i as i64,
            random: [0, u32::MAX, 1, 2_147_483_648, 77][i],
            random_supplied: i % 2 == 0,
            body_json: body.clone(),
            cloud_custom_data: (i % 2 == 1).then(|| format!("custom \"{i}\" 数据")),
        })
        .collect();
    s.import_messages("g1", &messages, RULE).unwrap();
    let expected: Vec<StoredMessage> = messages
        .iter()
        .enumerate()
        .rev()
        .map(|(i, m)| StoredMessage {
            msg_seq: i as u64 + 1,
            from_account: m.from_account.clone(),
            send_time: m.send_time,
            random: m.random,
            body_json: m.body_json.clone(),
            cloud_custom_data: m.cloud_custom_data.clone(),
        })
        .collect();
    assert_eq!(s.history("g1", None, 20).unwrap(), expected);
}

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn messages_after_pages_oldest_first(#[case] s: Backend) {
    create(&*s, "g1");
    create(&*s, "other");
    s.import_messages("g1", &batch(1, 20), RULE).unwrap();
    s.import_messages("other", &batch(1, 3), RULE).unwrap();
    s.import_messages("g1", &batch(21, 5), RULE).unwrap();
    let page = |after_seq, limit| -> Vec<u64> {
        s.messages_after("g1", after_seq, limit)
            .unwrap()
            .iter()
            .map(|m| m.msg_seq)
            .collect()
    };
    assert_eq!(page(0, 10), (1..=10).collect::<Vec<_>>());
    assert_eq!(page(10, 10), (11..=20).collect::<Vec<_>>());
    assert_eq!(page(20, 10), vec![21, 22, 23, 24, 25]);
    assert_eq!(page(25, 10), Vec::<u64>::new());
    assert_eq!(page(3, 2), vec![4, 5]);
    assert_eq!(page(0, 0), Vec::<u64>::new());
    assert_eq!(page(u64::MAX, 10), Vec::<u64>::new());
    // Walking page by page covers every message once, in order.
    let mut walked = Vec::new();
    loop {
        let next = page(walked.last().copied().unwrap_or(0), 7);
        if next.is_empty() {
            break;
        }
        walked.extend(next);
    }
    assert_eq!(walked, (1..=25).collect::<Vec<_>>());
    // The messages are the stored ones, exactly as history returns them.
    let mut all = s.messages_after("g1", 0, usize::MAX).unwrap();
    all.reverse();
    assert_eq!(all, s.history("g1", None, usize::MAX).unwrap());
    // A group without messages has none; a missing group is not found.
    create(&*s, "empty");
    assert_eq!(s.messages_after("empty", 0, 20).unwrap(), vec![]);
    assert_not_found(s.messages_after("nope", 0, 20));
}

/// A duplicate stores nothing, so it leaves no gap in the walk.
#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn messages_after_skips_nothing_for_duplicates(#[case] s: Backend) {
    create(&*s, "g1");
    let t = T0 + 1000;
    s.import_messages("g1", &[msg(t, 1), msg(t, 1), msg(t, 2)], RULE)
        .unwrap();
    let got: Vec<(u64, u32)> = s
        .messages_after("g1", 0, 10)
        .unwrap()
        .iter()
        .map(|m| (m.msg_seq, m.random))
        .collect();
    assert_eq!(got, vec![(1, 1), (2, 2)]);
}

// ---------------------------------------------------------------------------------------------
// Group listing, reset, kind

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn group_ids_page_ascending(#[case] s: Backend) {
    assert_eq!(s.group_ids(None, 10).unwrap(), Vec::<String>::new());
    for id in ["b", "a", "@TGS#2", "c", "aa", "é", "B"] {
        create(&*s, id);
    }
    let ids = |after: Option<&str>, limit| s.group_ids(after, limit).unwrap();
    // IDs compare bytewise (upper case before lower case, ASCII before other UTF-8).
    let all = ["@TGS#2", "B", "a", "aa", "b", "c", "é"];
    assert_eq!(ids(None, usize::MAX), all);
    assert_eq!(ids(None, 2), ["@TGS#2", "B"]);
    assert_eq!(ids(Some("a"), 2), ["aa", "b"]);
    // `after` need not be an existing ID.
    assert_eq!(ids(Some("ab"), 10), ["b", "c", "é"]);
    assert_eq!(ids(Some(""), 1), ["@TGS#2"]);
    assert_eq!(ids(Some("zzz"), 10), ["é"]);
    assert_eq!(ids(Some("é"), 10), Vec::<String>::new());
    assert_eq!(ids(None, 0), Vec::<String>::new());
    // Walking page by page covers every group once, in order.
    for limit in [1, 2, 3, 7, 100] {
        let mut walked: Vec<String> = Vec::new();
        loop {
            let next = ids(walked.last().map(String::as_str), limit);
            assert!(next.len() <= limit);
            if next.is_empty() {
                break;
            }
            walked.extend(next);
        }
        assert_eq!(walked, all, "limit {limit}");
    }
    // A dismissed group is no longer listed.
    s.destroy_group("aa").unwrap();
    assert_eq!(ids(Some("a"), 2), ["b", "c"]);
}

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn reset_removes_everything(#[case] s: Backend) {
    assert_eq!(s.reset().unwrap(), 0);
    for id in ["g1", "g2", "g3"] {
        create(&*s, id);
    }
    s.import_messages("g1", &batch(1, 5), RULE).unwrap();
    s.import_messages("g2", &batch(1, 2), DedupRule::wall(WINDOW, T0))
        .unwrap();
    s.import_members("g3", &[member("carol", Role::Member, T0, None)])
        .unwrap();
    assert_eq!(s.reset().unwrap(), 3);
    assert_eq!(s.group_ids(None, usize::MAX).unwrap(), Vec::<String>::new());
    for id in ["g1", "g2", "g3"] {
        assert_missing_everywhere(&*s, id);
    }
    assert_eq!(s.reset().unwrap(), 0);
    // The IDs are free again, with fresh sequences, members and no duplicate state on either clock.
    create(&*s, "g1");
    create(&*s, "g2");
    let g1 = s.group("g1").unwrap().unwrap();
    assert_eq!(
        (
            g1.next_msg_seq,
            g1.msg_count,
            g1.member_num,
            g1.last_msg_time
        ),
        (1, 0, 3, None)
    );
    assert_eq!(s.members("g1").unwrap().len(), 3);
    let out = s.import_messages("g1", &batch(1, 2), RULE).unwrap();
    assert_eq!(out, vec![stored(1, T0 + 10), stored(2, T0 + 11)]);
    let out = s
        .import_messages("g2", &batch(1, 2), DedupRule::wall(WINDOW, T0 + 1))
        .unwrap();
    assert_eq!(out, vec![stored(1, T0 + 10), stored(2, T0 + 11)]);
    assert_eq!(s.group_ids(None, 10).unwrap(), ["g1", "g2"]);
}

#[rstest]
#[case::memory(memory(), "memory")]
#[case::sqlite(sqlite(), "sqlite")]
#[case::postgres(postgres(), "postgres")]
fn kind_names_the_backend(#[case] s: Backend, #[case] kind: &str) {
    assert_eq!(s.kind(), kind);
}

// ---------------------------------------------------------------------------------------------
// Atomicity and concurrency

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn failed_calls_on_a_missing_group_leave_nothing(#[case] s: Backend) {
    assert_not_found(s.import_messages("g1", &batch(1, 5), RULE));
    assert_not_found(s.import_members("g1", &[member("carol", Role::Member, T0, Some(0))]));
    assert_not_found(s.set_unread("g1", "carol", 0));
    assert_eq!(s.group("g1").unwrap(), None);
    // Creating the group afterwards shows no trace of the failed calls.
    create(&*s, "g1");
    let g = s.group("g1").unwrap().unwrap();
    assert_eq!(
        (g.next_msg_seq, g.msg_count, g.member_num, g.last_msg_time),
        (1, 0, 3, None)
    );
    assert!(s
        .members("g1")
        .unwrap()
        .iter()
        .all(|m| m.account != "carol"));
    // The randoms of the failed call are not remembered.
    let out = s.import_messages("g1", &batch(1, 5), RULE).unwrap();
    assert_eq!(seqs(&out), vec![1, 2, 3, 4, 5]);
    assert!(out.iter().all(|o| !o.duplicate));
}

#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn concurrent_imports_get_gapless_unique_seqs(#[case] s: Backend) {
    const THREADS: u32 = 8;
    const CALLS: u32 = 4;
    const PER_CALL: u32 = 20;
    create(&*s, "g1");
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let store: Arc<dyn Store> = Arc::clone(&s.store);
            std::thread::spawn(move || {
                let mut seqs_of_thread = Vec::new();
                for call in 0..CALLS {
                    // Same send times everywhere, non-overlapping randoms: nothing is a duplicate.
                    let first = (thread * CALLS + call) * PER_CALL;
                    let out = store
                        .import_messages("g1", &batch(first, PER_CALL), RULE)
                        .unwrap();
                    assert!(out.iter().all(|o| !o.duplicate));
                    let call_seqs = seqs(&out);
                    // One call is atomic: its seqs are consecutive.
                    assert!(
                        call_seqs.windows(2).all(|w| w[1] == w[0] + 1),
                        "{call_seqs:?}"
                    );
                    seqs_of_thread.extend(call_seqs);
                }
                seqs_of_thread
            })
        })
        .collect();
    let mut all: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_unstable();
    let n = u64::from(THREADS * CALLS * PER_CALL);
    assert_eq!(all, (1..=n).collect::<Vec<_>>());
    assert_eq!(history_seqs(&*s, "g1"), (1..=n).rev().collect::<Vec<_>>());
    let g = s.group("g1").unwrap().unwrap();
    assert_eq!((g.next_msg_seq, g.msg_count), (n + 1, n));
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL only: several stores on one database stand for several replicas

/// `n` stores on one fresh database, and its URL.
fn replicas(n: usize) -> (Vec<Arc<dyn Store>>, String) {
    let url = crate::pg::fresh_database();
    let stores = (0..n)
        .map(|_| Arc::new(PostgresStore::open(&url).unwrap()) as Arc<dyn Store>)
        .collect();
    (stores, url)
}

/// Replicas importing into one group at once: every call's seqs are consecutive, and all of
/// them together are 1..=n with no gap and no double.
#[test]
fn postgres_replicas_import_into_one_group_without_gap_or_double() {
    const REPLICAS: usize = 3;
    const THREADS: u32 = 4;
    const CALLS: u32 = 5;
    const PER_CALL: u32 = 20;
    let (stores, _url) = replicas(REPLICAS);
    create(&*stores[0], "g1");
    let handles: Vec<_> = (0..THREADS * REPLICAS as u32)
        .map(|thread| {
            let store = Arc::clone(&stores[thread as usize % REPLICAS]);
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for call in 0..CALLS {
                    let first = (thread * CALLS + call) * PER_CALL;
                    let out = store
                        .import_messages("g1", &batch(first, PER_CALL), RULE)
                        .unwrap();
                    assert!(out.iter().all(|o| !o.duplicate));
                    let call_seqs = seqs(&out);
                    assert!(
                        call_seqs.windows(2).all(|w| w[1] == w[0] + 1),
                        "{call_seqs:?}"
                    );
                    mine.extend(call_seqs);
                }
                mine
            })
        })
        .collect();
    let mut all: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_unstable();
    let n = u64::from(THREADS * REPLICAS as u32 * CALLS * PER_CALL);
    assert_eq!(all, (1..=n).collect::<Vec<_>>());
    for s in &stores {
        assert_eq!(history_seqs(&**s, "g1"), (1..=n).rev().collect::<Vec<_>>());
        let g = s.group("g1").unwrap().unwrap();
        assert_eq!((g.next_msg_seq, g.msg_count), (n + 1, n));
    }
}

/// Replicas importing into one group at once, each call refused when it is older than the
/// group's newest message (the time-order rule, checked in `decide`) and re-sending randoms of
/// the others (the duplicate rule): what is stored is in time order by `MsgSeq`, gap-free, and
/// holds every supplied random once. Without the group's lock across the check and the write,
/// a call checked against a stale newest time would store an older message after a newer one.
#[test]
fn postgres_replicas_check_rules_under_the_groups_lock() {
    use rand::{Rng, SeedableRng};
    const REPLICAS: usize = 3;
    const THREADS: u64 = 4;
    const CALLS: u64 = 25;
    let rule = DedupRule::send_time(1_000_000);
    let (stores, _url) = replicas(REPLICAS);
    create(&*stores[0], "g1");
    let handles: Vec<_> = (0..THREADS * REPLICAS as u64)
        .map(|thread| {
            let store = Arc::clone(&stores[thread as usize % REPLICAS]);
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(thread);
                let (mut accepted, mut refused) = (0u64, 0u64);
                for _ in 0..CALLS {
                    let t = T0 + rng.random_range(1..2_000);
                    // Randoms from a pool all threads share: some are duplicates.
                    let messages = vec![
                        msg(t, rng.random_range(0..200)),
                        msg(t, rng.random_range(0..200)),
                    ];
                    let candidates: Vec<_> = messages
                        .iter()
                        .map(|m| Some((m.random, m.send_time)))
                        .collect();
                    let mut decide = |snapshot: Option<tim_server::store::ImportSnapshot>| {
                        let snapshot = snapshot.expect("the group exists");
                        match snapshot.group.last_msg_time {
                            Some(newest) if t < newest => None,
                            _ => Some(messages.clone()),
                        }
                    };
                    match store
                        .import_checked("g1", &candidates, rule, &mut decide)
                        .unwrap()
                    {
                        Some(_) => accepted += 1,
                        None => refused += 1,
                    }
                }
                (accepted, refused)
            })
        })
        .collect();
    let (accepted, _refused) = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    assert!(accepted > 0);
    let history = stores[1].history("g1", None, usize::MAX).unwrap();
    let n = history.len() as u64;
    let by_seq: Vec<_> = history.iter().rev().collect();
    assert_eq!(
        by_seq.iter().map(|m| m.msg_seq).collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>()
    );
    assert!(
        by_seq.windows(2).all(|w| w[0].send_time <= w[1].send_time),
        "stored out of time order: {:?}",
        by_seq
            .iter()
            .map(|m| (m.msg_seq, m.send_time))
            .collect::<Vec<_>>()
    );
    let mut randoms: Vec<u32> = by_seq.iter().map(|m| m.random).collect();
    randoms.sort_unstable();
    let stored = randoms.len();
    randoms.dedup();
    assert_eq!(randoms.len(), stored, "a supplied random was stored twice");
}

/// A refused `import_checked` writes nothing, and releases the group for the next call.
#[test]
fn postgres_refused_import_checked_writes_nothing() {
    let (stores, _url) = replicas(1);
    let s = &stores[0];
    create(&**s, "g1");
    let refused = s
        .import_checked("g1", &[], RULE, &mut |snapshot| {
            assert!(snapshot.is_some());
            None
        })
        .unwrap();
    assert_eq!(refused, None);
    assert_eq!(next_seq(&**s, "g1"), 1);
    let missing = s.import_checked("nope", &[], RULE, &mut |snapshot| {
        assert!(snapshot.is_none());
        Some(batch(1, 1))
    });
    assert_not_found(missing);
    let out = s.import_messages("g1", &batch(1, 2), RULE).unwrap();
    assert_eq!(seqs(&out), vec![1, 2]);
}

/// The schema version is recorded; replicas starting together migrate once; a database at
/// version 1 is upgraded with its data kept; a newer one is refused with what to do.
#[test]
fn postgres_schema_is_versioned() {
    let version =
        |url: &str| crate::pg::query_i64(url, "SELECT MAX(version) FROM tim_schema_migrations");
    let url = crate::pg::fresh_database();
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PostgresStore::open(&url).map(drop))
        })
        .collect();
    for o in opened {
        o.join().unwrap().unwrap();
    }
    assert_eq!(version(&url), 2);
    assert_eq!(
        crate::pg::query_i64(&url, "SELECT COUNT(*) FROM tim_schema_migrations"),
        2
    );
    // Back to version 1, with data.
    {
        let s = PostgresStore::open(&url).unwrap();
        create(&s, "g1");
        s.import_messages("g1", &batch(1, 3), RULE).unwrap();
    }
    crate::pg::execute(
        &url,
        "DROP TABLE tim_rate_limits, tim_config; DELETE FROM tim_schema_migrations WHERE version = 2",
    );
    let s = PostgresStore::open(&url).unwrap();
    assert_eq!(version(&url), 2);
    assert_eq!(history_seqs(&s, "g1"), vec![3, 2, 1]);
    assert_eq!(
        crate::pg::query_i64(&url, "SELECT COUNT(*) FROM tim_config"),
        0
    );
    drop(s);
    crate::pg::execute(
        &url,
        "INSERT INTO tim_schema_migrations (version) VALUES (99)",
    );
    let err = PostgresStore::open(&url).unwrap_err();
    assert!(
        matches!(err, StoreError::Backend(ref m) if m.contains("newer") && m.contains("(2)") && m.contains("--data")),
        "{err}"
    );
}

/// The URL's password never shows in an error.
#[test]
fn postgres_errors_hide_the_password() {
    // Nothing listens on port 1.
    let err = PostgresStore::open("postgres://tim:s3cret@127.0.0.1:1/tim").unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("no database connection"), "{shown}");
    let err = PostgresStore::open("postgres://tim:s3cret@127.0.0.1:notaport/tim").unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(
        shown.contains("postgres://user@host:port/database"),
        "{shown}"
    );
}

/// Replicas draw from one quota: at 1 request per second (burst 1), one request is allowed
/// whichever replica takes it, until the quota is refilled; other keys are independent.
#[test]
fn postgres_rate_limit_is_shared_by_replicas() {
    let (stores, _url) = replicas(2);
    let shared: Vec<_> = stores.iter().map(|s| s.shared().unwrap()).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut allowed = 0;
        for i in 0..6 {
            if shared[i % 2].take("app/cmd".into(), 1).await.unwrap() {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 1);
        assert!(shared[1].take("app/other".into(), 1).await.unwrap());
        shared[1].refill().await.unwrap();
        assert!(shared[0].take("app/cmd".into(), 1).await.unwrap());
        assert!(!shared[1].take("app/cmd".into(), 1).await.unwrap());
        // A burst of `per_second` is allowed at once, one more is not.
        let mut allowed = 0;
        for i in 0..8 {
            if shared[i % 2].take("app/burst".into(), 5).await.unwrap() {
                allowed += 1;
            }
        }
        assert!((5..=6).contains(&allowed), "{allowed}");
    });
    assert!(stores.iter().all(|s| s.kind() == "postgres"));
    assert!(MemoryStore::new().shared().is_none());
}

/// A configuration one replica publishes reaches the others' subscribers, not its own.
#[test]
fn postgres_config_reaches_other_replicas() {
    let (stores, _url) = replicas(3);
    let shared: Vec<_> = stores.iter().map(|s| s.shared().unwrap()).collect();
    let (tx, rx) = std::sync::mpsc::channel::<(usize, String)>();
    for (i, s) in shared.iter().enumerate() {
        let tx = std::sync::Mutex::new(tx.clone());
        s.subscribe_config(Box::new(move |json| {
            let _ = tx.lock().unwrap().send((i, json.to_owned()));
        }));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let wait = std::time::Duration::from_secs(10);
    for (publisher, doc) in [(0, "{\"a\":1}"), (2, "{\"a\":2}")] {
        runtime
            .block_on(shared[publisher].publish_config(doc.into()))
            .unwrap();
        let mut got: Vec<_> = (0..2).map(|_| rx.recv_timeout(wait).unwrap()).collect();
        got.sort();
        let others: Vec<_> = (0..3)
            .filter(|i| *i != publisher)
            .map(|i| (i, doc.to_owned()))
            .collect();
        assert_eq!(got, others);
    }
    assert!(rx
        .recv_timeout(std::time::Duration::from_millis(300))
        .is_err());
}

// ---------------------------------------------------------------------------------------------
// SQLite only

/// Opens a second, raw connection to a store's file (for inspection and fault injection).
fn raw(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    conn
}

#[test]
fn sqlite_uses_wal() {
    let dir = tempfile::tempdir().unwrap();
    let _store = SqliteStore::open(&db_path(&dir)).unwrap();
    let mode: String = raw(&db_path(&dir))
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn sqlite_state_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let t = T0 + 1000;
    let (group, members, history) = {
        let s = SqliteStore::open(&path).unwrap();
        create(&s, "g1");
        create(&s, "g2");
        s.import_messages("g1", &[msg(t, 42), generated(t, 43), msg(t + 1, 44)], RULE)
            .unwrap();
        s.import_members("g1", &[member("carol", Role::Member, T0 + 9, Some(2))])
            .unwrap();
        s.set_unread("g1", "alice", 3).unwrap();
        s.destroy_group("g2").unwrap();
        (
            s.group("g1").unwrap().unwrap(),
            s.members("g1").unwrap(),
            s.history("g1", None, 20).unwrap(),
        )
    };
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.group("g1").unwrap().unwrap(), group);
    assert_eq!(s.members("g1").unwrap(), members);
    assert_eq!(unread_counts(&s, "g1")[1], ("alice".into(), 3));
    assert_eq!(s.history("g1", None, 20).unwrap(), history);
    assert_eq!(s.group("g2").unwrap(), None);
    // Dedup state survived (supplied 42 is a duplicate, generated 43 never was), and seq continues.
    let out = s
        .import_messages(
            "g1",
            &[msg(t + 5, 42), msg(t + 5, 43), msg(t + 6, 45)],
            RULE,
        )
        .unwrap();
    assert_eq!(
        out,
        vec![duplicate_of(1, t), stored(4, t + 5), stored(5, t + 6)]
    );
    drop(s);
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(next_seq(&s, "g1"), 6);
}

/// Makes every insert into `table` whose `column` contains `marker` fail, through a second connection.
fn inject_failure(path: &Path, table: &str, column: &str, marker: &str) {
    raw(path)
        .execute_batch(&format!(
            "CREATE TRIGGER inject_{table} BEFORE INSERT ON {table}
             WHEN instr(NEW.{column}, '{marker}') > 0
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
        ))
        .unwrap();
}

#[test]
fn sqlite_failure_mid_import_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let s = SqliteStore::open(&path).unwrap();
    create(&s, "g1");
    s.import_messages("g1", &batch(1, 3), RULE).unwrap();
    s.set_unread("g1", "alice", 2).unwrap();
    let group = s.group("g1").unwrap().unwrap();
    let members = s.members("g1").unwrap();
    let history = s.history("g1", None, 20).unwrap();

    inject_failure(&path, "messages", "body_json", "SECRET-BODY");
    let mut messages = batch(100, 5);
    messages[3].body_json = text_body("SECRET-BODY");
    let err = s.import_messages("g1", &messages, RULE).unwrap_err();
    let StoreError::Backend(text) = &err else {
        panic!("{err:?}")
    };
    assert!(text.contains("injected failure"), "{text}");
    assert!(
        !text.contains("SECRET"),
        "a message body leaked into the error: {text}"
    );

    // Nothing of the call is kept: no messages, no seq consumed, unread counts not reset.
    assert_eq!(s.group("g1").unwrap().unwrap(), group);
    assert_eq!(s.members("g1").unwrap(), members);
    assert_eq!(s.history("g1", None, 20).unwrap(), history);
    // The messages stored before the failure inside the call left no dedup trace either.
    let out = s.import_messages("g1", &batch(100, 3), RULE).unwrap();
    assert_eq!(seqs(&out), vec![4, 5, 6]);
    assert!(out.iter().all(|o| !o.duplicate));
}

#[test]
fn sqlite_failure_mid_create_or_member_import_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let s = SqliteStore::open(&path).unwrap();
    inject_failure(&path, "members", "account", "poison");

    let err = s
        .create_group(new_group(
            "g1",
            vec![
                member("owner", Role::Owner, T0, None),
                member("poison", Role::Member, T0, None),
            ],
        ))
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert_eq!(
        s.group("g1").unwrap(),
        None,
        "the group row was rolled back with its members"
    );

    create(&s, "g1");
    let err = s
        .import_members(
            "g1",
            &[
                member("carol", Role::Member, T0, None),
                member("poison", Role::Member, T0, None),
            ],
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert_eq!(s.members("g1").unwrap().len(), 3, "carol was rolled back");
    assert_eq!(
        s.import_members("g1", &[member("carol", Role::Member, T0, None)])
            .unwrap(),
        vec![MemberInsert::Added]
    );
}

#[test]
fn sqlite_failure_on_a_group_destroyed_mid_way_commits_nothing() {
    // Another writer dismisses the group between our calls: the call fails cleanly and keeps nothing.
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let s = SqliteStore::open(&path).unwrap();
    create(&s, "g1");
    s.import_messages("g1", &batch(1, 2), RULE).unwrap();
    raw(&path)
        .execute("DELETE FROM groups WHERE group_id = 'g1'", [])
        .unwrap();
    assert_not_found(s.import_messages("g1", &batch(10, 3), RULE));
    let conn = raw(&path);
    for table in ["groups", "members", "messages"] {
        let n: i64 = conn
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "{table}");
    }
}

#[test]
fn sqlite_reset_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    {
        let s = SqliteStore::open(&path).unwrap();
        create(&s, "g1");
        create(&s, "g2");
        s.import_messages("g1", &batch(1, 3), RULE).unwrap();
        assert_eq!(s.reset().unwrap(), 2);
    }
    let conn = raw(&path);
    for table in ["groups", "members", "messages"] {
        let n: i64 = conn
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "{table}");
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.group_ids(None, 10).unwrap(), Vec::<String>::new());
    assert_eq!(s.group("g1").unwrap(), None);
    create(&s, "g1");
    let out = s.import_messages("g1", &batch(1, 3), RULE).unwrap();
    assert_eq!(seqs(&out), vec![1, 2, 3]);
    assert!(out.iter().all(|o| !o.duplicate));
}

#[test]
fn sqlite_import_time_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let t = T0 + 1000;
    let now = T0 + 50_000;
    {
        let s = SqliteStore::open(&path).unwrap();
        create(&s, "g1");
        s.import_messages("g1", &[msg(t, 42)], DedupRule::wall(WINDOW, now))
            .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    let far = t + 100 * WINDOW;
    let out = s
        .import_messages("g1", &[msg(far, 42)], DedupRule::wall(WINDOW, now + WINDOW))
        .unwrap();
    assert_eq!(out, vec![duplicate_of(1, t)]);
    let imported_at: Option<i64> = raw(&path)
        .query_row(
            "SELECT imported_at FROM messages WHERE msg_seq = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(imported_at, Some(now));
}

/// The schema of version 1 (before `imported_at`), as that build created it.
const SCHEMA_V1: &str = "
    CREATE TABLE groups (
        group_id      TEXT    NOT NULL PRIMARY KEY,
        type          TEXT    NOT NULL,
        create_time   INTEGER NOT NULL,
        profile_json  TEXT    NOT NULL,
        next_msg_seq  INTEGER NOT NULL CHECK (next_msg_seq >= 1),
        last_msg_time INTEGER,
        msg_count     INTEGER NOT NULL CHECK (msg_count >= 0)
    ) STRICT;

    CREATE TABLE members (
        group_id  TEXT    NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
        account   TEXT    NOT NULL,
        role      TEXT    NOT NULL CHECK (role IN ('Owner', 'Admin', 'Member')),
        join_time INTEGER NOT NULL,
        unread    INTEGER NOT NULL CHECK (unread >= 0),
        PRIMARY KEY (group_id, account)
    ) STRICT, WITHOUT ROWID;

    CREATE INDEX members_by_join ON members (group_id, join_time, account);

    CREATE TABLE messages (
        group_id          TEXT    NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
        msg_seq           INTEGER NOT NULL CHECK (msg_seq >= 1),
        from_account      TEXT    NOT NULL,
        send_time         INTEGER NOT NULL,
        random            INTEGER NOT NULL CHECK (random BETWEEN 0 AND 4294967295),
        random_supplied   INTEGER NOT NULL CHECK (random_supplied IN (0, 1)),
        body_json         TEXT    NOT NULL,
        cloud_custom_data TEXT,
        PRIMARY KEY (group_id, msg_seq)
    ) STRICT;

    CREATE INDEX messages_dedup ON messages (group_id, random, send_time) WHERE random_supplied = 1;

    PRAGMA user_version = 1;
";

/// A file written by the previous schema version is upgraded on open: its rows are kept, and
/// having no import time they are never wall-clock duplicates (the send-time reading still
/// finds them).
#[test]
fn sqlite_upgrades_a_version_1_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let t = T0 + 1000;
    {
        let conn = raw(&path);
        conn.execute_batch(SCHEMA_V1).unwrap();
        let profile_json = serde_json::to_string(&profile("old")).unwrap();
        conn.execute(
            "INSERT INTO groups VALUES ('g1', 'Public', ?1, ?2, 2, ?3, 1)",
            rusqlite::params![T0, profile_json, t],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO members VALUES ('g1', 'owner', 'Owner', ?1, 0)",
            [T0],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO messages VALUES ('g1', 1, 'owner', ?1, 42, 1, ?2, NULL)",
            rusqlite::params![t, text_body("old")],
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    let version: i64 = raw(&path)
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);
    let g = s.group("g1").unwrap().unwrap();
    assert_eq!(
        (g.profile, g.next_msg_seq, g.msg_count),
        (profile("old"), 2, 1)
    );
    let old = s.history("g1", None, 20).unwrap();
    assert_eq!(old.len(), 1);
    assert_eq!(
        (old[0].msg_seq, old[0].send_time, old[0].random),
        (1, t, 42)
    );
    // No import time: not a duplicate on the wall clock, whatever `now` is.
    for now in [0, t, T0 + 50_000, i64::MAX] {
        assert_eq!(
            s.find_duplicates("g1", &[Some((42, t))], DedupRule::wall(WINDOW, now))
                .unwrap(),
            vec![false],
            "now {now}"
        );
    }
    // The send-time reading still finds it.
    assert_eq!(
        s.find_duplicates("g1", &[Some((42, t))], RULE).unwrap(),
        vec![true]
    );
    let now = T0 + 50_000;
    let out = s
        .import_messages("g1", &[msg(t, 42)], DedupRule::wall(WINDOW, now))
        .unwrap();
    assert_eq!(out, vec![stored(2, t)]);
    // The new row has its import time.
    let out = s
        .import_messages("g1", &[msg(t, 42)], DedupRule::wall(WINDOW, now + 1))
        .unwrap();
    assert_eq!(out, vec![duplicate_of(2, t)]);
    let imported_at: Vec<Option<i64>> = raw(&path)
        .prepare("SELECT imported_at FROM messages ORDER BY msg_seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(imported_at, vec![None, Some(now)]);
}

/// Each member's `last_send_msg_time` is the newest `send_time` of its own stored messages (a
/// duplicate stores nothing); members who sent nothing, and senders who are not members, add none.
#[rstest]
#[case::memory(memory())]
#[case::sqlite(sqlite())]
#[case::postgres(postgres())]
fn members_carry_their_newest_send_time(#[case] s: Backend) {
    create(&*s, "g1");
    create(&*s, "g2");
    let from = |account: &str, send_time: i64, random: u32| NewMessage {
        from_account: account.into(),
        ..msg(send_time, random)
    };
    s.import_messages(
        "g1",
        &[
            from("alice", T0 + 10, 1),
            from("bob", T0 + 20, 2),
            from("alice", T0 + 30, 3),
            from("stranger", T0 + 40, 4),
            // A duplicate of alice's first message: not stored, so it does not count.
            from("alice", T0 + 50, 1),
        ],
        RULE,
    )
    .unwrap();
    s.import_messages("g2", &[from("owner", T0 + 99, 9)], RULE)
        .unwrap();
    let last: Vec<(String, Option<i64>)> = s
        .members("g1")
        .unwrap()
        .into_iter()
        .map(|m| (m.account, m.last_send_msg_time))
        .collect();
    assert_eq!(
        last,
        vec![
            ("owner".to_owned(), None),
            ("alice".to_owned(), Some(T0 + 30)),
            ("bob".to_owned(), Some(T0 + 20)),
        ]
    );
}
