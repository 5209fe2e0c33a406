//! `Random` derivation: determinism, collision resolution, supplied collisions.

use tim_migrate::random::{content_key, source_key, Assigned, RandomAssigner, RandomOptions, Seed};

/// The Randoms in input order, and the (first, second) lines of supplied collisions.
type Outcome = (Vec<i64>, Vec<(u64, u64)>);

fn assign(
    opts: RandomOptions,
    msgs: &[(i64, Seed)],
) -> Result<Outcome, tim_migrate::random::SpaceExhausted> {
    let mut a = RandomAssigner::new("g", opts);
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
fn collisions_are_resolved_against_both_sides_of_the_window() {
    let tiny = RandomOptions {
        window_secs: 300,
        space: 4,
    };
    // Space of 4 values, four messages in one window: one supplied value (ahead of the derived
    // ones) and three derived. All four must differ.
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
    // A fifth message in the window exhausts the space.
    let five = [
        (100, content(1)),
        (100, content(1)),
        (200, content(2)),
        (300, content(5)),
        (400, Seed::Supplied(3)),
    ];
    assert_eq!(assign(tiny, &five).unwrap_err().line, 4);
    // Beyond the window (301 s after the last), values may be reused.
    let spread = [
        (0, content(1)),
        (301, content(2)),
        (602, content(3)),
        (903, content(4)),
        (1204, content(5)),
    ];
    assert!(assign(tiny, &spread).is_ok());
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
