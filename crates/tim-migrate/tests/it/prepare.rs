//! The external sort: same order as an in-memory stable sort, whatever the run size.

use std::collections::HashMap;

use tim_migrate::input::MessageReader;
use tim_migrate::prepare::{PrepareOptions, Prepared};
use tim_migrate::random::RandomOptions;

use crate::support;

/// (GroupId, line, raw, Random) of every prepared message, in file order.
fn flatten(p: &Prepared) -> Vec<(String, u64, String, i64)> {
    let mut out = Vec::new();
    for g in p.groups() {
        for m in p.read_group(g, 0).unwrap() {
            let m = m.unwrap();
            out.push((g.group_id.clone(), m.line, m.raw, m.msg.random.unwrap()));
        }
    }
    out
}

#[test]
fn many_spills_match_an_in_memory_stable_sort() {
    let dir = tempfile::tempdir().unwrap();
    let c = support::corpus(dir.path(), 7, 3000, 0);
    let tiny = PrepareOptions {
        run_records: 17,
        fan_in: 3,
        temp_dir: Some(dir.path().to_owned()),
        ..PrepareOptions::default()
    };
    let p = Prepared::build(&c.messages, &tiny).unwrap();
    let st = p.stats();
    assert_eq!(st.messages, 3000);
    assert_eq!(st.runs, 3000u64.div_ceil(17));
    assert!(st.merge_passes > 2, "{st:?}");
    assert!(st.max_run_records <= 17);

    // Reference: every line in memory, stable-sorted by (GroupId, SendTime).
    let mut all: Vec<_> = MessageReader::open(&c.messages)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    all.sort_by(|a, b| {
        (&a.value.group_id, a.value.msg.send_time).cmp(&(&b.value.group_id, b.value.msg.send_time))
    });
    let got = flatten(&p);
    let want: Vec<_> = all
        .iter()
        .map(|r| (r.value.group_id.clone(), r.line, r.raw.clone()))
        .collect();
    assert_eq!(
        got.iter()
            .map(|(g, l, r, _)| (g.clone(), *l, r.clone()))
            .collect::<Vec<_>>(),
        want
    );
    // The index agrees with the stream.
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for r in &all {
        *counts.entry(&r.value.group_id).or_default() += 1;
    }
    assert_eq!(p.groups().len(), 7);
    for g in p.groups() {
        assert_eq!(counts[g.group_id.as_str()], g.count);
        let times: Vec<i64> = p
            .read_group(g, 0)
            .unwrap()
            .map(|m| m.unwrap().msg.send_time)
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(
            (times[0], *times.last().unwrap()),
            (g.first_send_time, g.last_send_time)
        );
    }
    // Supplied Randoms are kept; the run size does not change any Random.
    for (r, (_, line, _, random)) in all.iter().zip(&got) {
        assert_eq!(r.line, *line);
        if let Some(supplied) = r.value.msg.random {
            assert_eq!(supplied, *random);
        }
    }
    let big = Prepared::build(&c.messages, &PrepareOptions::default()).unwrap();
    assert_eq!(big.stats().runs, 1);
    assert_eq!(flatten(&big), got);
}

#[test]
fn readers_are_independent_and_skip_confirmed_messages() {
    let dir = tempfile::tempdir().unwrap();
    let c = support::corpus(dir.path(), 2, 200, 0);
    let p = Prepared::build(&c.messages, &PrepareOptions::default()).unwrap();
    let [a, b] = p.groups() else {
        panic!("two groups")
    };
    let full: Vec<u64> = p
        .read_group(a, 0)
        .unwrap()
        .map(|m| m.unwrap().line)
        .collect();
    let mut ra = p.read_group(a, 5).unwrap();
    let mut rb = p.read_group(b, 0).unwrap();
    let (mut tail, mut other) = (Vec::new(), 0);
    // Interleave two readers.
    loop {
        let (x, y) = (ra.next(), rb.next());
        if x.is_none() && y.is_none() {
            break;
        }
        tail.extend(x.map(|m| m.unwrap().line));
        other += u64::from(y.is_some());
    }
    assert_eq!(other, b.count);
    assert_eq!(tail, full[5..]);
    assert_eq!(p.read_group(a, a.count + 3).unwrap().count(), 0);
}

#[test]
fn derived_randoms_never_collide_within_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.jsonl");
    // Identical messages in the same second, a dense burst, supplied values in between, and a
    // hash space so small that collisions are certain.
    let mut lines = String::new();
    for i in 0..40 {
        let t = 1_600_000_000 + i / 4;
        let random = if i % 9 == 0 {
            format!(",\"Random\":{}", 1 + i % 5)
        } else {
            String::new()
        };
        lines.push_str(&format!(
            "{{\"GroupId\":\"g\",\"From_Account\":\"a\",\"SendTime\":{t},\"MsgBody\":[{{\"MsgType\":\"TIMTextElem\",\"MsgContent\":{{\"Text\":\"same\"}}}}]{random}}}\n"
        ));
    }
    std::fs::write(&path, &lines).unwrap();
    let opts = PrepareOptions {
        random: RandomOptions {
            window_secs: 300,
            space: 64,
        },
        ..PrepareOptions::default()
    };
    let p = Prepared::build(&path, &opts).unwrap();
    let got = flatten(&p);
    let mut seen = std::collections::HashSet::new();
    for (_, _, _, r) in &got {
        assert!((1..=64).contains(r), "{r}");
        assert!(seen.insert(*r), "Random {r} used twice within the window");
    }
    // A re-run derives the same values.
    assert_eq!(flatten(&Prepared::build(&path, &opts).unwrap()), got);
}

/// A value supplied late in a group's stream is avoided by the derived values before it (the
/// group is buffered until its supplied values are known); other groups are not affected; the
/// sort pass hashes the whole file.
#[test]
fn derived_values_avoid_a_value_supplied_later_in_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.jsonl");
    let line = |g: &str, t: i64, extra: &str| {
        format!(
            "{{\"GroupId\":\"{g}\",\"From_Account\":\"a\",\"SendTime\":{t},\"MsgBody\":[{{\"MsgType\":\"TIMTextElem\",\"MsgContent\":{{\"Text\":\"x\"}}}}]{extra}}}\n"
        )
    };
    let mut plain = String::new();
    for t in 0..20 {
        plain.push_str(&line("g", 1_600_000_000 + t, ""));
        plain.push_str(&line("h", 1_600_000_000 + t, ""));
    }
    std::fs::write(&path, &plain).unwrap();
    let opts = PrepareOptions::default();
    let before = flatten(&Prepared::build(&path, &opts).unwrap());
    let first_g = before.iter().find(|m| m.0 == "g").unwrap().3;

    // The same, plus a message of `g` a day later supplying `g`'s first derived value.
    let late = line("g", 1_600_086_400, &format!(",\"Random\":{first_g}"));
    std::fs::write(&path, format!("{plain}{late}")).unwrap();
    let p = Prepared::build(&path, &opts).unwrap();
    let after = flatten(&p);
    let g: Vec<i64> = after.iter().filter(|m| m.0 == "g").map(|m| m.3).collect();
    assert_eq!(g.len(), 21);
    assert_eq!(g[20], first_g);
    assert!(!g[..20].contains(&first_g), "{g:?}");
    assert_eq!(
        g.iter().collect::<std::collections::HashSet<_>>().len(),
        21,
        "{g:?}"
    );
    // Group h supplies nothing: unchanged.
    let h = |v: &[(String, u64, String, i64)]| -> Vec<i64> {
        v.iter().filter(|m| m.0 == "h").map(|m| m.3).collect()
    };
    assert_eq!(h(&after), h(&before));
    // The whole-file hash.
    use sha2::{Digest, Sha256};
    let want: String = Sha256::digest(std::fs::read(&path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(p.sha256(), want);
}

#[test]
fn groups_start_largest_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("messages.jsonl");
    let mut s = String::new();
    // a: 2 messages, b: 5, c: 5, d: 1.
    for (g, n) in [("a", 2), ("b", 5), ("c", 5), ("d", 1)] {
        for i in 0..n {
            s.push_str(&format!(
                r#"{{"GroupId":"{g}","From_Account":"u","SendTime":{},"MsgBody":[{{"MsgType":"TIMTextElem","MsgContent":{{"Text":"x"}}}}]}}"#,
                1_700_000_000 + i
            ));
            s.push('\n');
        }
    }
    std::fs::write(&path, s).unwrap();
    let p = Prepared::build(&path, &PrepareOptions::default()).unwrap();
    let order: Vec<(&str, u64)> = p
        .groups_largest_first()
        .iter()
        .map(|g| (g.group_id.as_str(), g.count))
        .collect();
    // The most messages first; equal counts by GroupId.
    assert_eq!(order, [("b", 5), ("c", 5), ("a", 2), ("d", 1)]);
    // Look-ups by GroupId still work.
    assert_eq!(p.group("c").map(|g| g.count), Some(5));
    // Readers know how many messages are left.
    let g = p.group("b").unwrap();
    assert_eq!(p.read_group(g, 2).unwrap().remaining(), 3);
}
