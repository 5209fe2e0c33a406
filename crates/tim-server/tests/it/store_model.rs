//! The store against a model (`proptest-state-machine`): random sequences of create, import
//! (messages with random times and `Random`s: duplicates, equal times, out of order, batches
//! over the editions' limits, both duplicate clocks), member imports with unread counts, set
//! unread, destroy and reset. After every step the store and a small model written from the
//! `Store` trait's contract agree on every answer, the history, `NextMsgSeq`, the members and
//! their unread counts, and the duplicate rule. Runs on the memory, SQLite and PostgreSQL stores
//! (PostgreSQL on the test server of `crate::pg`, a database per case).
//!
//! Cases per backend: `STORE_MODEL_CASES` (default 48; PostgreSQL a quarter of it); e.g. `STORE_MODEL_CASES=5000 cargo test
//! -p tim-server --test it store_model` for a long run. Shrunk failures are kept below as
//! ordinary tests (`regression_*`).

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::Config;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use tim_model::api::import_group::GroupProfile;
use tim_model::edition::DedupClock;
use tim_model::GroupType;
use tim_server::config::Durability;
use tim_server::store::memory::MemoryStore;
use tim_server::store::postgres::PostgresStore;
use tim_server::store::sqlite::SqliteStore;
use tim_server::store::{
    DedupRule, MemberInsert, NewGroup, NewMember, NewMessage, Role, Store, StoreError,
    StoredOutcome,
};

/// Group IDs the sequences use (few, so that calls meet the same groups).
const GROUPS: [&str; 3] = ["g0", "g1", "@TGS#g2"];
/// Accounts.
const ACCOUNTS: [&str; 4] = ["a", "b", "c", "owner"];
/// A base time; message times are offsets from it.
const T0: i64 = 1_600_000_000;

// ---------------------------------------------------------------------------------------------
// Transitions

/// One message of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Msg {
    from: usize,
    send_time: i64,
    random: u32,
    supplied: bool,
}

/// One store call.
#[derive(Debug, Clone)]
enum Step {
    Create {
        group: usize,
        group_type: GroupType,
        create_time: i64,
        members: Vec<(usize, Role, i64)>,
    },
    Import {
        group: usize,
        msgs: Vec<Msg>,
        dedup: DedupRule,
    },
    FindDuplicates {
        group: usize,
        candidates: Vec<Option<(u32, i64)>>,
        dedup: DedupRule,
    },
    Members {
        group: usize,
        members: Vec<(usize, Role, i64, Option<i64>)>,
    },
    SetUnread {
        group: usize,
        account: usize,
        unread: i64,
    },
    Destroy {
        group: usize,
    },
    Reset,
}

fn send_time() -> impl Strategy<Value = i64> {
    prop_oneof![
        // Around T0 and the window's edges: equal times, out of order, just in and just out.
        8 => prop::sample::select(vec![0i64, 1, 2, 10, 299, 300, 301, 600, 900, -1, -300])
            .prop_map(|d| T0 + d),
        1 => any::<i64>(),
        1 => prop::sample::select(vec![i64::MIN, i64::MAX, 0, -1]),
    ]
}

fn random() -> impl Strategy<Value = u32> {
    prop_oneof![
        6 => 0u32..4,
        1 => Just(u32::MAX),
        1 => any::<u32>(),
    ]
}

fn dedup() -> impl Strategy<Value = DedupRule> {
    let window = prop_oneof![
        4 => Just(300i64),
        1 => Just(0i64),
        1 => Just(1i64),
        1 => Just(-5i64),
        1 => Just(i64::MAX),
    ];
    let now = prop::sample::select(vec![T0, T0 + 100, T0 + 400, T0 + 1000]);
    (window, any::<bool>(), now).prop_map(|(window_secs, wall, now)| DedupRule {
        window_secs,
        clock: if wall {
            DedupClock::Wall
        } else {
            DedupClock::SendTime
        },
        now,
    })
}

fn msg() -> impl Strategy<Value = Msg> {
    (
        0..ACCOUNTS.len(),
        send_time(),
        random(),
        prop::bool::weighted(0.8),
    )
        .prop_map(|(from, send_time, random, supplied)| Msg {
            from,
            send_time,
            random,
            supplied,
        })
}

fn role() -> impl Strategy<Value = Role> {
    prop::sample::select(vec![Role::Member, Role::Admin, Role::Owner])
}

fn unread() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => -2i64..8,
        1 => any::<i64>(),
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
    ]
}

fn join_time() -> impl Strategy<Value = i64> {
    prop::sample::select(vec![T0, T0 + 1, T0 + 5, T0 - 10])
}

fn group() -> impl Strategy<Value = usize> {
    0..GROUPS.len()
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (
            group(),
            prop::sample::select(vec![GroupType::Public, GroupType::Private, GroupType::ChatRoom]),
            join_time(),
            prop::collection::vec((0..ACCOUNTS.len(), role(), join_time()), 0..4),
        )
            .prop_map(|(group, group_type, create_time, members)| Step::Create {
                group,
                group_type,
                create_time,
                members,
            }),
        // Batches up to 25 messages: over both editions' limits (20, 7); the store takes any.
        6 => (group(), prop::collection::vec(msg(), 0..25), dedup())
            .prop_map(|(group, msgs, dedup)| Step::Import { group, msgs, dedup }),
        1 => (
            group(),
            prop::collection::vec(prop::option::weighted(0.9, (random(), send_time())), 0..6),
            dedup(),
        )
            .prop_map(|(group, candidates, dedup)| Step::FindDuplicates {
                group,
                candidates,
                dedup,
            }),
        2 => (
            group(),
            prop::collection::vec(
                (0..ACCOUNTS.len(), role(), join_time(), prop::option::of(unread())),
                0..5,
            ),
        )
            .prop_map(|(group, members)| Step::Members { group, members }),
        2 => (group(), 0..ACCOUNTS.len() + 1, unread())
            .prop_map(|(group, account, unread)| Step::SetUnread { group, account, unread }),
        1 => group().prop_map(|group| Step::Destroy { group }),
        1 => Just(Step::Reset),
    ]
}

/// The account of index `i`; one past the end is an account that is never a member.
fn account(i: usize) -> &'static str {
    ACCOUNTS.get(i).copied().unwrap_or("stranger")
}

// ---------------------------------------------------------------------------------------------
// The model: the `Store` contract, written plainly.

#[derive(Debug, Clone)]
struct ModelMsg {
    seq: u64,
    from: String,
    send_time: i64,
    random: u32,
    supplied: bool,
    imported_at: i64,
    body: String,
}

#[derive(Debug, Clone)]
struct ModelMember {
    role: Role,
    join_time: i64,
    unread: u64,
}

#[derive(Debug, Clone)]
struct ModelGroup {
    group_type: GroupType,
    create_time: i64,
    next_seq: u64,
    messages: Vec<ModelMsg>,
    members: BTreeMap<String, ModelMember>,
}

impl ModelGroup {
    fn clamp(&self, unread: i64) -> u64 {
        u64::try_from(unread)
            .unwrap_or(0)
            .min(self.messages.len() as u64)
    }

    /// The earliest stored message that `dedup` makes a message `(random, t)` a duplicate of.
    fn original(&self, random: u32, t: i64, dedup: DedupRule) -> Option<&ModelMsg> {
        if dedup.window_secs <= 0 {
            return None;
        }
        self.messages.iter().find(|m| {
            m.supplied
                && m.random == random
                && match dedup.clock {
                    DedupClock::SendTime => {
                        (i128::from(m.send_time) - i128::from(t)).abs()
                            <= i128::from(dedup.window_secs)
                    }
                    DedupClock::Wall => {
                        i128::from(dedup.now) - i128::from(m.imported_at)
                            <= i128::from(dedup.window_secs)
                    }
                }
        })
    }
}

/// What the model expects a step to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    NotFound,
    Taken,
    Created,
    Imported(Vec<StoredOutcome>),
    Duplicates(Vec<bool>),
    Members(Vec<MemberInsert>),
    Unread(Option<u64>),
    Destroyed,
    Reset(u64),
}

#[derive(Debug, Clone, Default)]
struct Model {
    groups: BTreeMap<String, ModelGroup>,
    /// The answer of the last step.
    last: Option<Answer>,
}

/// The body every message of the model carries (unique per message, so history is checked).
fn body_of(group: &str, seq_hint: usize, m: &Msg) -> String {
    format!(
        r#"[{{"MsgType":"TIMTextElem","MsgContent":{{"Text":"{group} {seq_hint} {} {}"}}}}]"#,
        m.send_time, m.random
    )
}

impl Model {
    fn apply(&mut self, step: &Step) -> Answer {
        match step {
            Step::Create {
                group,
                group_type,
                create_time,
                members,
            } => {
                let id = GROUPS[*group];
                if self.groups.contains_key(id) {
                    return Answer::Taken;
                }
                let mut map = BTreeMap::new();
                for (a, role, join) in members {
                    map.entry(account(*a).to_owned()).or_insert(ModelMember {
                        role: *role,
                        join_time: *join,
                        unread: 0,
                    });
                }
                self.groups.insert(
                    id.to_owned(),
                    ModelGroup {
                        group_type: group_type.clone(),
                        create_time: *create_time,
                        next_seq: 1,
                        messages: Vec::new(),
                        members: map,
                    },
                );
                Answer::Created
            }
            Step::Import { group, msgs, dedup } => {
                let id = GROUPS[*group];
                let Some(g) = self.groups.get_mut(id) else {
                    return Answer::NotFound;
                };
                let mut out = Vec::new();
                for (i, m) in msgs.iter().enumerate() {
                    if m.supplied {
                        if let Some(o) = g.original(m.random, m.send_time, *dedup) {
                            out.push(StoredOutcome {
                                msg_seq: o.seq,
                                msg_time: o.send_time,
                                duplicate: true,
                            });
                            continue;
                        }
                    }
                    let seq = g.next_seq;
                    g.next_seq += 1;
                    g.messages.push(ModelMsg {
                        seq,
                        from: account(m.from).to_owned(),
                        send_time: m.send_time,
                        random: m.random,
                        supplied: m.supplied,
                        imported_at: dedup.now,
                        body: body_of(id, i, m),
                    });
                    out.push(StoredOutcome {
                        msg_seq: seq,
                        msg_time: m.send_time,
                        duplicate: false,
                    });
                }
                for member in g.members.values_mut() {
                    member.unread = 0;
                }
                Answer::Imported(out)
            }
            Step::FindDuplicates {
                group,
                candidates,
                dedup,
            } => {
                let Some(g) = self.groups.get(GROUPS[*group]) else {
                    return Answer::NotFound;
                };
                Answer::Duplicates(
                    candidates
                        .iter()
                        .map(|c| c.is_some_and(|(r, t)| g.original(r, t, *dedup).is_some()))
                        .collect(),
                )
            }
            Step::Members { group, members } => {
                let Some(g) = self.groups.get_mut(GROUPS[*group]) else {
                    return Answer::NotFound;
                };
                let mut out = Vec::new();
                for (a, role, join, unread) in members {
                    let acct = account(*a);
                    if g.members.contains_key(acct) {
                        out.push(MemberInsert::AlreadyMember);
                        continue;
                    }
                    let unread = g.clamp(unread.unwrap_or(0));
                    g.members.insert(
                        acct.to_owned(),
                        ModelMember {
                            role: *role,
                            join_time: *join,
                            unread,
                        },
                    );
                    out.push(MemberInsert::Added);
                }
                Answer::Members(out)
            }
            Step::SetUnread {
                group,
                account: a,
                unread,
            } => {
                let Some(g) = self.groups.get_mut(GROUPS[*group]) else {
                    return Answer::NotFound;
                };
                let value = g.clamp(*unread);
                Answer::Unread(g.members.get_mut(account(*a)).map(|m| {
                    m.unread = value;
                    value
                }))
            }
            Step::Destroy { group } => match self.groups.remove(GROUPS[*group]) {
                Some(_) => Answer::Destroyed,
                None => Answer::NotFound,
            },
            Step::Reset => {
                let n = self.groups.len() as u64;
                self.groups.clear();
                Answer::Reset(n)
            }
        }
    }
}

struct ModelMachine;

impl ReferenceStateMachine for ModelMachine {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::default()).boxed()
    }

    fn transitions(_state: &Model) -> BoxedStrategy<Step> {
        step().boxed()
    }

    fn apply(mut state: Model, step: &Step) -> Model {
        let answer = state.apply(step);
        state.last = Some(answer);
        state
    }
}

// ---------------------------------------------------------------------------------------------
// The stores under test

/// How to make a store for one case.
trait Backend: 'static {
    fn open() -> Sut;
}

/// A store, with the temporary directory it lives in.
struct Sut {
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

struct Memory;
struct Sqlite;
struct Postgres;

impl Backend for Memory {
    fn open() -> Sut {
        Sut {
            store: Arc::new(MemoryStore::new()),
            _dir: None,
        }
    }
}

impl Backend for Sqlite {
    fn open() -> Sut {
        // On tmpfs when there is one: the cases open hundreds of databases.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        let store = SqliteStore::open_with(&dir.path().join("tim.db"), Durability::Normal).unwrap();
        Sut {
            store: Arc::new(store),
            _dir: Some(dir),
        }
    }
}

impl Backend for Postgres {
    fn open() -> Sut {
        // A database of its own per case, on the test server (`crate::pg`).
        let store = PostgresStore::open(&crate::pg::fresh_database()).unwrap();
        Sut {
            store: Arc::new(store),
            _dir: None,
        }
    }
}

struct StoreTest<B>(PhantomData<B>);

/// The store's answer to `step`, in the model's terms.
fn run(store: &dyn Store, step: &Step) -> Answer {
    let not_found = |e: StoreError| match e {
        StoreError::GroupNotFound => Answer::NotFound,
        other => panic!("store failed: {other}"),
    };
    match step {
        Step::Create {
            group,
            group_type,
            create_time,
            members,
        } => {
            let id = GROUPS[*group];
            let created = store.create_group(NewGroup {
                group_id: id.to_owned(),
                create_time: *create_time,
                profile: GroupProfile::new(group_type.clone(), "model"),
                members: members
                    .iter()
                    .map(|(a, role, join)| NewMember {
                        account: account(*a).to_owned(),
                        role: *role,
                        join_time: *join,
                        unread_msg_num: Some(5),
                    })
                    .collect(),
            });
            match created {
                Ok(record) => {
                    assert_eq!(record.group_id, id);
                    assert_eq!(record.next_msg_seq, 1);
                    assert_eq!(record.msg_count, 0);
                    Answer::Created
                }
                Err(StoreError::GroupIdTaken) => Answer::Taken,
                Err(e) => panic!("create failed: {e}"),
            }
        }
        Step::Import { group, msgs, dedup } => {
            let id = GROUPS[*group];
            let batch: Vec<NewMessage> = msgs
                .iter()
                .enumerate()
                .map(|(i, m)| NewMessage {
                    from_account: account(m.from).to_owned(),
                    send_time: m.send_time,
                    random: m.random,
                    random_supplied: m.supplied,
                    body_json: body_of(id, i, m),
                    cloud_custom_data: None,
                })
                .collect();
            store
                .import_messages(id, &batch, *dedup)
                .map_or_else(not_found, Answer::Imported)
        }
        Step::FindDuplicates {
            group,
            candidates,
            dedup,
        } => {
            let id = GROUPS[*group];
            let found = store
                .find_duplicates(id, candidates, *dedup)
                .map_or_else(not_found, Answer::Duplicates);
            // import_snapshot reads the same rule (and the group) in one go.
            let snapshot = store.import_snapshot(id, candidates, *dedup).unwrap();
            match (&found, snapshot) {
                (Answer::NotFound, None) => {}
                (Answer::Duplicates(flags), Some(s)) => {
                    if candidates.iter().any(Option::is_some) {
                        assert_eq!(&s.duplicates, flags, "import_snapshot vs find_duplicates");
                    } else {
                        assert!(s.duplicates.is_empty());
                    }
                }
                (f, s) => panic!("find_duplicates {f:?} but import_snapshot {s:?}"),
            }
            found
        }
        Step::Members { group, members } => {
            let list: Vec<NewMember> = members
                .iter()
                .map(|(a, role, join, unread)| NewMember {
                    account: account(*a).to_owned(),
                    role: *role,
                    join_time: *join,
                    unread_msg_num: *unread,
                })
                .collect();
            store
                .import_members(GROUPS[*group], &list)
                .map_or_else(not_found, Answer::Members)
        }
        Step::SetUnread {
            group,
            account: a,
            unread,
        } => store
            .set_unread(GROUPS[*group], account(*a), *unread)
            .map_or_else(not_found, Answer::Unread),
        Step::Destroy { group } => store
            .destroy_group(GROUPS[*group])
            .map_or_else(not_found, |()| Answer::Destroyed),
        Step::Reset => Answer::Reset(store.reset().unwrap()),
    }
}

/// The store holds what the model holds.
fn agree(store: &dyn Store, model: &Model) {
    let ids = store.group_ids(None, 100).unwrap();
    let want: Vec<String> = model.groups.keys().cloned().collect();
    assert_eq!(ids, want, "group IDs");
    for id in GROUPS {
        let record = store.group(id).unwrap();
        let Some(g) = model.groups.get(id) else {
            assert!(record.is_none(), "{id} should not exist");
            assert!(matches!(
                store.history(id, None, 10),
                Err(StoreError::GroupNotFound)
            ));
            assert!(matches!(store.members(id), Err(StoreError::GroupNotFound)));
            continue;
        };
        let r = record.unwrap_or_else(|| panic!("{id} should exist"));
        assert_eq!(r.group_type, g.group_type, "{id} type");
        assert_eq!(r.create_time, g.create_time, "{id} create time");
        assert_eq!(r.next_msg_seq, g.next_seq, "{id} NextMsgSeq");
        assert_eq!(r.msg_count, g.messages.len() as u64, "{id} message count");
        assert_eq!(
            r.last_msg_time,
            g.messages.iter().map(|m| m.send_time).max(),
            "{id} last message time"
        );
        assert_eq!(r.member_num, g.members.len() as u64, "{id} member count");
        // MsgSeq is 1, 2, 3, … with no gap: nothing is ever deleted from a group.
        for (i, m) in g.messages.iter().enumerate() {
            assert_eq!(m.seq, i as u64 + 1);
        }
        let history = store.history(id, None, usize::MAX).unwrap();
        let got: Vec<_> = history
            .iter()
            .rev()
            .map(|m| {
                (
                    m.msg_seq,
                    m.from_account.as_str(),
                    m.send_time,
                    m.random,
                    m.body_json.as_str(),
                )
            })
            .collect();
        let want: Vec<_> = g
            .messages
            .iter()
            .map(|m| {
                (
                    m.seq,
                    m.from.as_str(),
                    m.send_time,
                    m.random,
                    m.body.as_str(),
                )
            })
            .collect();
        assert_eq!(got, want, "{id} history");
        let after = store.messages_after(id, 0, usize::MAX).unwrap();
        assert_eq!(
            after.iter().map(|m| m.msg_seq).collect::<Vec<_>>(),
            g.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
            "{id} messages_after"
        );
        // A page: the 3 newest at or below the middle.
        let mid = g.next_seq / 2;
        let page = store.history(id, Some(mid), 3).unwrap();
        let want_page: Vec<u64> = g
            .messages
            .iter()
            .rev()
            .filter(|m| m.seq <= mid)
            .take(3)
            .map(|m| m.seq)
            .collect();
        assert_eq!(
            page.iter().map(|m| m.msg_seq).collect::<Vec<_>>(),
            want_page,
            "{id} history page"
        );
        let members = store.members(id).unwrap();
        let mut want: Vec<_> = g
            .members
            .iter()
            .map(|(a, m)| {
                let last = g
                    .messages
                    .iter()
                    .filter(|x| &x.from == a)
                    .map(|x| x.send_time)
                    .max();
                (m.join_time, a.clone(), m.role, m.unread, last)
            })
            .collect();
        want.sort_by(|x, y| (x.0, &x.1).cmp(&(y.0, &y.1)));
        let got: Vec<_> = members
            .into_iter()
            .map(|m| {
                (
                    m.join_time,
                    m.account,
                    m.role,
                    m.unread_msg_num,
                    m.last_send_msg_time,
                )
            })
            .collect();
        assert_eq!(got, want, "{id} members");
    }
}

impl<B: Backend> StateMachineTest for StoreTest<B> {
    type SystemUnderTest = Sut;
    type Reference = ModelMachine;

    fn init_test(_: &Model) -> Sut {
        B::open()
    }

    fn apply(sut: Sut, model: &Model, step: Step) -> Sut {
        let answer = run(&*sut.store, &step);
        assert_eq!(Some(&answer), model.last.as_ref(), "answer to {step:?}");
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        agree(&*sut.store, model);
    }
}

fn cases() -> u32 {
    std::env::var("STORE_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

fn config() -> Config {
    config_with(cases())
}

/// PostgreSQL: a database per case costs more, so a quarter of the cases (at least 8).
fn pg_config() -> Config {
    config_with((cases() / 4).max(8))
}

fn config_with(cases: u32) -> Config {
    Config {
        cases,
        // Shrunk failures become the `regression_*` tests below, not files in the tree.
        failure_persistence: None,
        ..Config::default()
    }
}

prop_state_machine! {
    #![proptest_config(config())]

    #[test]
    fn memory_store_agrees_with_the_model(sequential 1..40 => StoreTest<Memory>);

    #[test]
    fn sqlite_store_agrees_with_the_model(sequential 1..40 => StoreTest<Sqlite>);
}

prop_state_machine! {
    #![proptest_config(pg_config())]

    #[test]
    fn postgres_store_agrees_with_the_model(sequential 1..40 => StoreTest<Postgres>);
}

/// Runs `steps` on both backends against the model.
fn replay(steps: &[Step]) {
    fn on<B: Backend>(steps: &[Step]) {
        let sut = B::open();
        let mut model = Model::default();
        for step in steps {
            let want = model.apply(step);
            assert_eq!(run(&*sut.store, step), want, "answer to {step:?}");
            agree(&*sut.store, &model);
        }
    }
    on::<Memory>(steps);
    on::<Sqlite>(steps);
    on::<Postgres>(steps);
}

/// The same supplied `Random` in one call at equal, far and extreme times, under each clock.
#[test]
fn regression_duplicates_within_a_call_at_extreme_times() {
    let msg = |send_time, random| Msg {
        from: 0,
        send_time,
        random,
        supplied: true,
    };
    for clock in [DedupClock::SendTime, DedupClock::Wall] {
        let dedup = DedupRule {
            window_secs: i64::MAX,
            clock,
            now: T0,
        };
        replay(&[
            Step::Create {
                group: 0,
                group_type: GroupType::Public,
                create_time: T0,
                members: vec![(0, Role::Owner, T0)],
            },
            Step::Import {
                group: 0,
                msgs: vec![msg(i64::MIN, 1), msg(i64::MAX, 1), msg(T0, 1), msg(T0, 2)],
                dedup,
            },
            Step::FindDuplicates {
                group: 0,
                candidates: vec![Some((1, i64::MAX)), Some((2, i64::MIN)), None],
                dedup,
            },
        ]);
    }
}
