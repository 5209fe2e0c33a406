//! The rejects file: one JSON object per line, appended across a resumed run.

use tim_migrate::rejects::{Reject, RejectsWriter};

#[test]
fn writes_and_appends_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rejects.jsonl");
    let reject = |line| Reject {
        file: "messages.jsonl".into(),
        line,
        group_id: "g1".into(),
        code: 80002,
        reason: "message is 9052 bytes; at most 8000 are allowed".into(),
        input: r#"{"GroupId":"g1","Text":"长"}"#.into(),
    };
    let mut w = RejectsWriter::create(&path).unwrap();
    w.write(&reject(3)).unwrap();
    w.sync().unwrap();
    drop(w);
    let mut w = RejectsWriter::append(&path).unwrap();
    w.write(&reject(9)).unwrap();
    assert_eq!(w.written(), 1);
    w.sync().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let back: Vec<Reject> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(back, [reject(3), reject(9)]);
    assert!(
        text.starts_with(r#"{"file":"messages.jsonl","line":3,"GroupId":"g1","code":80002,"#),
        "{text}"
    );
}

fn reject(line: u64) -> Reject {
    Reject {
        file: "messages.jsonl".into(),
        line,
        group_id: "g1".into(),
        code: 80002,
        reason: "too long".into(),
        input: "{}".into(),
    }
}

/// Writes two rejects, syncs, and returns the file's bytes and the length to record.
fn two_rejects(path: &std::path::Path) -> (Vec<u8>, u64) {
    let mut w = RejectsWriter::create(path).unwrap();
    w.write(&reject(1)).unwrap();
    w.write(&reject(2)).unwrap();
    w.sync().unwrap();
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(w.len(), bytes.len() as u64);
    (bytes, w.len())
}

#[test]
fn resume_cuts_a_torn_or_newer_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rejects.jsonl");
    let (good, len) = two_rejects(&path);

    // A torn half line after the recorded length.
    let mut torn = good.clone();
    torn.extend_from_slice(br#"{"file":"messages.jsonl","li"#);
    std::fs::write(&path, &torn).unwrap();
    let (mut w, r) = RejectsWriter::resume(&path, Some(len)).unwrap();
    assert_eq!((r.truncated, r.shorter), (torn.len() as u64 - len, false));
    assert_eq!(w.len(), len);
    w.write(&reject(3)).unwrap();
    w.sync().unwrap();
    drop(w);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Reject> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, [reject(1), reject(2), reject(3)]);

    // Whole lines written after the last checkpoint save.
    let (good, len) = two_rejects(&path);
    let mut newer = good.clone();
    newer.extend_from_slice(&serde_json::to_vec(&reject(7)).unwrap());
    newer.push(b'\n');
    std::fs::write(&path, &newer).unwrap();
    let (w, r) = RejectsWriter::resume(&path, Some(len)).unwrap();
    assert!(r.truncated > 0 && !r.shorter);
    drop(w);
    assert_eq!(std::fs::read(&path).unwrap(), good);

    // Nothing recorded (the run that wrote the checkpoint had no --rejects): only the torn line goes.
    std::fs::write(&path, &torn).unwrap();
    let (w, r) = RejectsWriter::resume(&path, None).unwrap();
    assert_eq!(r.truncated, torn.len() as u64 - len);
    assert_eq!(w.len(), len);
    drop(w);
    assert_eq!(std::fs::read(&path).unwrap(), good);

    // Shorter than recorded (moved away): kept, appended to.
    std::fs::remove_file(&path).unwrap();
    let (w, r) = RejectsWriter::resume(&path, Some(len)).unwrap();
    assert_eq!((r.truncated, r.shorter, w.len()), (0, true, 0));
}
