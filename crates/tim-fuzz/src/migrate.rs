//! `tim-migrate`'s JSON Lines readers (messages, groups, members).

use std::fmt::Debug;

use serde_json::Value;
use tim_migrate::input::{
    decode_message, from_reader, Groups, InputError, LineFormat, Members, Messages,
};

const FILE: &str = "in.jsonl";

/// The bytes as a messages file, a groups file and a members file. Properties: no panic; one
/// item per non-blank line, numbered in order; an error names the file and its line; a decoded
/// line decodes again to the same value; a decoded message, re-encoded with its `GroupId` and
/// `SourceId`, decodes to the same message.
pub fn migrate_input(data: &[u8]) {
    let lines = non_blank_lines(data);
    read_all::<Messages>(data, &lines, |line| {
        let mut v = serde_json::to_value(&line.msg).expect("a decoded message encodes");
        let Value::Object(o) = &mut v else {
            panic!("a message encodes as an object")
        };
        o.insert("GroupId".into(), Value::String(line.group_id.clone()));
        if let Some(s) = &line.source_id {
            o.insert("SourceId".into(), Value::String(s.clone()));
        }
        let text = v.to_string();
        match decode_message(&text) {
            Ok(again) => assert_eq!(&again, line, "re-encoding changed the message: {text}"),
            Err(e) => panic!("a re-encoded message does not decode: {e:?}: {text}"),
        }
    });
    read_all::<Groups>(data, &lines, |line| {
        let text = serde_json::to_string(&line.request).expect("a decoded group encodes");
        match Groups::decode(&text) {
            Ok(again) => assert_eq!(&again, line, "re-encoding changed the group: {text}"),
            Err(e) => panic!("a re-encoded group does not decode: {e:?}: {text}"),
        }
    });
    read_all::<Members>(data, &lines, |line| {
        let mut v = serde_json::to_value(&line.member).expect("a decoded member encodes");
        if let Value::Object(o) = &mut v {
            o.insert("GroupId".into(), Value::String(line.group_id.clone()));
        }
        let text = v.to_string();
        match Members::decode(&text) {
            Ok(again) => assert_eq!(&again, line, "re-encoding changed the member: {text}"),
            Err(e) => panic!("a re-encoded member does not decode: {e:?}: {text}"),
        }
    });
}

/// Numbers (1-based) of the lines the readers must report: not blank after the line terminator,
/// trailing `\r`s and (on line 1) a byte-order mark are removed.
fn non_blank_lines(data: &[u8]) -> Vec<u64> {
    let mut out = Vec::new();
    let mut pieces: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    if pieces.last().is_some_and(|p| p.is_empty()) {
        pieces.pop();
    }
    for (i, mut line) in pieces.into_iter().enumerate() {
        if i == 0 {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        while let Some(rest) = line.strip_suffix(b"\r") {
            line = rest;
        }
        if !line.iter().all(u8::is_ascii_whitespace) {
            out.push(i as u64 + 1);
        }
    }
    out
}

fn read_all<F>(data: &[u8], lines: &[u64], mut check: impl FnMut(&F::Value))
where
    F: LineFormat,
    F::Value: PartialEq + Debug,
{
    let mut seen = Vec::new();
    for item in from_reader::<F, _>(data, FILE) {
        match item {
            Ok(rec) => {
                seen.push(rec.line);
                match F::decode(&rec.raw) {
                    Ok(again) => {
                        assert_eq!(again, rec.value, "line {} decodes differently", rec.line)
                    }
                    Err(e) => panic!("line {} decoded once, not twice: {e:?}", rec.line),
                }
                check(&rec.value);
            }
            Err(InputError::Line(e)) => {
                seen.push(e.line);
                assert_eq!(e.file, FILE);
                assert!(!e.path.is_empty() && !e.message.is_empty(), "{e:?}");
                assert!(
                    e.to_string()
                        .starts_with(&format!("{FILE}:{}: {}: ", e.line, e.path)),
                    "{e}"
                );
            }
            Err(e) => panic!("reading memory failed: {e}"),
        }
    }
    assert_eq!(seen, lines, "one item per non-blank line, in order");
}
