//! `Random` derivation: a keyed permutation of the stream position, unique over the whole group,
//! deterministic, never equal to a supplied value; supplied collisions reported.

use std::collections::HashSet;

use tim_migrate::random::{
    content_key, source_key, Assigned, Permutation, RandomAssigner, RandomOptions, Seed,
};

/// The Randoms in input order, and the (first, second) lines of supplied collisions.
type Outcome = (Vec<i64>, Vec<(u64, u64)>);

fn assign(
    opts: RandomOptions,
    msgs: &[(i64, Seed)],
) -> Result<Outcome, tim_migrate::random::SpaceExhausted> {
    assign_in("g", opts, msgs)
}

fn assign_in(
    group: &str,
    opts: RandomOptions,
    msgs: &[(i64, Seed)],
) -> Result<Outcome, tim_migrate::random::SpaceExhausted> {
    let mut a = RandomAssigner::new(group, opts);
    // As the prepare pass does: every supplied value of the group is declared first.
    a.reserve_supplied(msgs.iter().filter_map(|(_, s)| match s {
        Seed::Supplied(r) => Some(*r),
        _ => None,
    }));
    let mut out = Vec::new();
    let mut sink = |x: Assigned<usize>| out.push(x);
    for (i, (t, seed)) in msgs.iter().enumerate() {
        a.push(*t, i as u64 + 1, seed.clone(), i, &mut sink)?;
    }
    a.finish(&mut sink)?;
    let collisions = a.collisions().iter().map(|c| (c.first, c.second)).collect();
    // Output keeps the input order.
    assert!(out.iter().enumerate().all(|(i, x)| x.payload == i));
    Ok((out.into_iter().map(|x| x.random).collect(), collisions))
}

fn content(i: u8) -> Seed {
    Seed::Content([i; 32])
}

#[test]
fn derived_values_avoid_every_supplied_value_of_the_group() {
    let tiny = RandomOptions {
        window_secs: 300,
        space: 4,
    };
    // Space of 4 values: one supplied value (after the derived ones in the stream) and three
    // derived. All four must differ.
    let msgs = [
        (100, content(1)),
        (100, content(1)),
        (200, content(2)),
        (400, Seed::Supplied(3)),
    ];
    let (randoms, collisions) = assign(tiny, &msgs).unwrap();
    let mut sorted = randoms.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [1, 2, 3, 4], "{randoms:?}");
    assert_eq!(randoms[3], 3);
    assert!(collisions.is_empty());
    // Deterministic.
    assert_eq!(assign(tiny, &msgs).unwrap().0, randoms);
    // A fifth message exhausts the space.
    let five = [
        (100, content(1)),
        (100, content(1)),
        (200, content(2)),
        (300, content(5)),
        (400, Seed::Supplied(3)),
    ];
    assert_eq!(assign(tiny, &five).unwrap_err().line, 4);
    // Far apart in SendTime makes no difference: values are never reused within a group (a
    // server whose window runs on the wall clock would drop a repeat).
    let spread = [
        (0, content(1)),
        (301, content(2)),
        (602, content(3)),
        (903, content(4)),
        (1204, content(5)),
    ];
    assert_eq!(assign(tiny, &spread).unwrap_err().line, 5);
    let (r, _) = assign(tiny, &spread[..4]).unwrap();
    assert_eq!(r.iter().collect::<HashSet<_>>().len(), 4, "{r:?}");
    // Supplied values outside the space (kept as read; `check` reports them) reserve nothing.
    let (r, _) = assign(
        tiny,
        &[
            (0, Seed::Supplied(-1)),
            (0, Seed::Supplied(1 << 40)),
            (1, content(1)),
            (2, content(1)),
            (3, content(1)),
            (4, content(1)),
        ],
    )
    .unwrap();
    assert_eq!(r[0], -1);
    assert_eq!(r[1], 1 << 40);
    let mut derived = r[2..].to_vec();
    derived.sort_unstable();
    assert_eq!(derived, [1, 2, 3, 4]);
}

/// The bar: no repeats over 2^20 positions of one group, in the real 32-bit space, none
/// equal to a supplied value, never 0; the same values on every run; other groups other values.
#[test]
fn no_repeats_over_a_million_positions() {
    const N: usize = 1 << 20;
    let opts = RandomOptions::new(300);
    // Every 1000th message supplies a value; one of them equals the first derived value of a
    // group without supplied values, so that the skip is exercised.
    let plain: Vec<(i64, Seed)> = (0..4).map(|i| (i, content(0))).collect();
    let first_derived = assign(opts, &plain).unwrap().0[0];
    let msgs: Vec<(i64, Seed)> = (0..N)
        .map(|i| {
            let t = 1_600_000_000 + (i / 50) as i64;
            if i % 1000 == 999 {
                let v = if i == 999 {
                    first_derived
                } else {
                    7 + i as i64
                };
                (t, Seed::Supplied(v))
            } else if i % 3 == 0 {
                (t, content(0))
            } else {
                (t, Seed::SourceId(source_key("g", &i.to_string())))
            }
        })
        .collect();
    let (randoms, collisions) = assign(opts, &msgs).unwrap();
    assert!(collisions.is_empty());
    let mut seen = HashSet::with_capacity(N);
    for (i, r) in randoms.iter().enumerate() {
        assert!((1..=i64::from(u32::MAX)).contains(r), "{r} at {i}");
        assert!(seen.insert(*r), "Random {r} repeats at position {i}");
    }
    assert_eq!(randoms[999], first_derived);
    assert_ne!(randoms[0], first_derived, "the supplied value is skipped");
    // Deterministic across runs (nothing but the group and the stream decides).
    assert_eq!(assign(opts, &msgs[..5000]).unwrap().0, randoms[..5000]);
    // Another group gets another sequence.
    let other = assign_in("h", opts, &msgs[..100]).unwrap().0;
    assert_ne!(other, randoms[..100]);
}

#[test]
fn the_permutation_is_a_bijection_of_its_range() {
    for size in [1u64, 2, 3, 5, 64, 1000, 4096, 65_537] {
        let p = Permutation::new("g", size);
        let mut seen = vec![false; size as usize];
        for x in 0..size {
            let y = p.apply(x);
            assert!(y < size, "{y} ≥ {size}");
            assert!(!seen[y as usize], "{y} twice (size {size})");
            seen[y as usize] = true;
            assert_eq!(p.invert(y), x);
        }
    }
    // Fixed values: the derivation is part of the import's contract with a resumed run.
    let p = Permutation::new("g", u64::from(u32::MAX));
    let first: Vec<u64> = (0..3).map(|x| p.apply(x)).collect();
    assert_eq!(first, (0..3).map(|x| p.apply(x)).collect::<Vec<_>>());
    assert!(first.iter().all(|&y| y < u64::from(u32::MAX)));
}

#[test]
fn supplied_collisions_are_reported_not_changed() {
    let opts = RandomOptions::new(300);
    let msgs = [
        (1000, Seed::Supplied(42)),
        (1300, Seed::Supplied(42)), // 300 s apart: inclusive window, duplicate
        (1601, Seed::Supplied(42)), // 301 s after the previous: fine
        (1601, content(9)),
    ];
    let (randoms, collisions) = assign(opts, &msgs).unwrap();
    assert_eq!(&randoms[..3], [42, 42, 42]);
    assert_ne!(randoms[3], 42);
    assert_eq!(collisions, [(1, 2)]);
}

#[test]
fn keys_depend_on_what_they_should() {
    use tim_model::api::import_group_msg::ImportMsg;
    use tim_model::MsgElement;
    assert_eq!(source_key("g", "1"), source_key("g", "1"));
    assert_ne!(source_key("g", "1"), source_key("h", "1"));
    assert_ne!(source_key("g1", ""), source_key("g", "1"));
    let mut m = ImportMsg::new("a", 5, vec![MsgElement::text("hi")]);
    let k = content_key(&m);
    m.random = Some(3);
    assert_eq!(content_key(&m), k, "Random is not content");
    m.send_time = 6;
    assert_ne!(content_key(&m), k);
    // Same content at different positions gets different values.
    let (r, _) = assign(
        RandomOptions::new(300),
        &[(5, Seed::Content(k)), (5, Seed::Content(k))],
    )
    .unwrap();
    assert_ne!(r[0], r[1]);
    // A SourceId-derived value does not depend on the position.
    let s = Seed::SourceId(source_key("g", "x"));
    let (r1, _) = assign(RandomOptions::new(300), &[(5, s.clone())]).unwrap();
    let (r2, _) = assign(RandomOptions::new(300), &[(1, content(1)), (5, s)]).unwrap();
    assert_eq!(r1[0], r2[1]);
}

/// A `SourceId` candidate equal to a value the permutation handed out, or to another `SourceId`
/// value, or to a supplied one, takes its next candidate; later permutation values skip it.
#[test]
fn source_values_and_position_values_never_meet() {
    let tiny = RandomOptions {
        window_secs: 300,
        space: 8,
    };
    // Eight messages in a space of eight: every mix of kinds must use every value once.
    for mask in 0u32..256 {
        let msgs: Vec<(i64, Seed)> = (0..8)
            .map(|i| {
                let seed = if mask & (1 << i) != 0 {
                    Seed::SourceId(source_key("g", &format!("s{i}")))
                } else {
                    content(i as u8)
                };
                (i64::from(i), seed)
            })
            .collect();
        let (mut r, _) = assign(tiny, &msgs).unwrap();
        r.sort_unstable();
        assert_eq!(r, (1..=8).collect::<Vec<_>>(), "mask {mask:08b}");
    }
}
