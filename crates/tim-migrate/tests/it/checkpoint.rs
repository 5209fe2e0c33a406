//! The checkpoint: round trip, atomic replacement, refusal of another input or target.

use tim_migrate::checkpoint::{Checkpoint, CheckpointError, InputFingerprint, Target};
use tim_migrate::input::InputPaths;
use tim_model::Edition;

use crate::support;

fn target() -> Target {
    Target {
        base_url: "http://127.0.0.1:8080".into(),
        sdkappid: 1_400_000_000,
        edition: Edition::Seed,
    }
}

#[test]
fn round_trip_and_atomic_replace() {
    let dir = tempfile::tempdir().unwrap();
    let c = support::corpus(dir.path(), 3, 50, 0);
    let paths = InputPaths {
        messages: c.messages.clone(),
        groups: Some(c.groups.clone()),
        members: None,
    };
    let fp = InputFingerprint::of(&paths).unwrap();
    let path = dir.path().join("import.ckpt");
    assert!(Checkpoint::load(&path).unwrap().is_none());

    let mut cp = Checkpoint::new(target(), fp.clone());
    let g = cp.group_mut("grp-00001");
    g.created = true;
    g.confirmed = 40;
    g.last_seq = Some(38);
    g.rejected = 2;
    cp.save(&path).unwrap();
    assert_eq!(Checkpoint::load(&path).unwrap().unwrap(), cp);

    cp.group_mut("grp-00001").confirmed = 50;
    cp.group_mut("grp-00002").members_done = 3;
    cp.save(&path).unwrap();
    let back = Checkpoint::load(&path).unwrap().unwrap();
    assert_eq!(back, cp);
    // Only the checkpoint is left: no temporary files.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("ckpt") || n.starts_with('.'))
        .collect();
    assert_eq!(names, ["import.ckpt"]);

    back.ensure_matches(&path, &target(), &fp).unwrap();
}

#[test]
fn refuses_another_input_or_target() {
    let dir = tempfile::tempdir().unwrap();
    let c = support::corpus(dir.path(), 3, 50, 0);
    let paths = InputPaths {
        messages: c.messages.clone(),
        groups: None,
        members: None,
    };
    let fp = InputFingerprint::of(&paths).unwrap();
    let cp = Checkpoint::new(target(), fp.clone());
    let path = dir.path().join("c.ckpt");

    let other = Target {
        sdkappid: 1,
        ..target()
    };
    let e = cp
        .ensure_matches(&path, &other, &fp)
        .unwrap_err()
        .to_string();
    assert!(e.contains("was written for target http://127.0.0.1:8080 (sdkappid 1400000000, seed edition), but this run has http://127.0.0.1:8080 (sdkappid 1, seed edition)"), "{e}");

    // The same file moved elsewhere still matches; edited content does not.
    let moved = dir.path().join("moved.jsonl");
    std::fs::copy(&c.messages, &moved).unwrap();
    let fp_moved = InputFingerprint::of(&InputPaths {
        messages: moved.clone(),
        groups: None,
        members: None,
    })
    .unwrap();
    cp.ensure_matches(&path, &target(), &fp_moved).unwrap();
    let mut text = std::fs::read_to_string(&moved).unwrap();
    text.push('\n');
    std::fs::write(&moved, text).unwrap();
    let fp_edited = InputFingerprint::of(&InputPaths {
        messages: moved,
        groups: None,
        members: None,
    })
    .unwrap();
    let e = cp.ensure_matches(&path, &target(), &fp_edited).unwrap_err();
    assert!(
        matches!(
            e,
            CheckpointError::Mismatch {
                what: "messages file",
                ..
            }
        ),
        "{e}"
    );
    let with_groups = InputFingerprint::of(&InputPaths {
        groups: Some(c.groups),
        ..paths
    })
    .unwrap();
    assert!(cp.ensure_matches(&path, &target(), &with_groups).is_err());

    std::fs::write(&path, "not json").unwrap();
    let e = Checkpoint::load(&path).unwrap_err().to_string();
    assert!(e.contains("is not a tim-migrate checkpoint"), "{e}");
}

#[test]
fn whole_file_hashes_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let c = support::corpus(dir.path(), 3, 50, 0);
    let paths = InputPaths {
        messages: c.messages.clone(),
        groups: Some(c.groups.clone()),
        members: None,
    };
    let fp = InputFingerprint::of(&paths).unwrap();
    // The groups file is hashed whole when the import starts; the messages file by the sort pass.
    assert!(fp.groups.as_ref().unwrap().sha256.is_some());
    assert!(fp.messages.sha256.is_none());
    let path = dir.path().join("c.ckpt");
    let mut cp = Checkpoint::new(target(), fp.clone());
    cp.check_messages_hash(&path, "messages.jsonl", "aa")
        .unwrap();
    assert_eq!(cp.input.messages.sha256.as_deref(), Some("aa"));
    cp.check_messages_hash(&path, "messages.jsonl", "aa")
        .unwrap();
    let e = cp
        .check_messages_hash(&path, "messages.jsonl", "bb")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("messages file messages.jsonl changed since checkpoint"),
        "{e}"
    );

    // Version 1 (older Random derivation) is refused with what to do; so is a newer one.
    let mut v = serde_json::to_value(&cp).unwrap();
    v["version"] = 1.into();
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    let e = Checkpoint::load(&path).unwrap_err().to_string();
    assert!(
        e.contains("format version 1 (this build reads 2); it was written by an older tim-migrate"),
        "{e}"
    );
    assert!(
        e.contains("finish that import with the version that started it"),
        "{e}"
    );
    v["version"] = 3.into();
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    let e = Checkpoint::load(&path).unwrap_err().to_string();
    assert!(e.contains("format version 3 (this build reads 2)"), "{e}");
}
