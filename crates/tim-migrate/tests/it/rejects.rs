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
