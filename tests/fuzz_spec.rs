//! Fuzzing the session-file loader: arbitrary text, and mutations of a valid file, must
//! come back as a session or as an error with a position — never a panic or a hang.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;

use proptest::prelude::*;

const LUMARA: &str = include_str!("../sessions/lumara.toml");

fn load(text: &str) {
    let catalog = lucid_envs::catalog();
    if let Err(err) = lucid_core::spec::parse(Path::new("fuzz.toml"), text, &catalog) {
        let shown = err.to_string();
        assert!(
            shown.starts_with("fuzz.toml"),
            "the error names the file: {shown}"
        );
        if let Some((line, column)) = err.position {
            assert!(line >= 1 && column >= 1);
            assert!(
                line <= text.lines().count().max(1) + 1,
                "line {line} is inside the file"
            );
        }
    }
}

/// A mutation: (kind, position, byte).
fn mutate(text: &str, edits: &[(u8, usize, u8)]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for &(kind, at, byte) in edits {
        if bytes.is_empty() {
            bytes.push(byte);
            continue;
        }
        let at = at % bytes.len();
        match kind % 4 {
            0 => bytes[at] = byte,
            1 => bytes.insert(at, byte),
            2 => {
                bytes.remove(at);
            }
            _ => {
                // Duplicate a line-sized chunk, the way a careless paste does.
                let end = (at + 40).min(bytes.len());
                let chunk = bytes[at..end].to_vec();
                bytes.splice(at..at, chunk);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        load(&text);
    }

    #[test]
    fn mutated_session_files_never_panic(edits in prop::collection::vec((any::<u8>(), any::<usize>(), prop::sample::select(b"[]=\"'\n.#ax0 {},".to_vec())), 1..12)) {
        load(&mutate(LUMARA, &edits));
    }

    #[test]
    fn arbitrary_check_expressions_never_panic(check in "[a-z_ ()<>=!&|+*/.0-9\"-]{0,80}") {
        let text = LUMARA.replacen("check = \"fuel_remaining_kg >= fuel_return_kg\"", &format!("check = {check:?}"), 1);
        load(&text);
    }
}
