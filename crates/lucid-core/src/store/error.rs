//! What can go wrong with the store, phrased for the person who has to fix it.

use std::path::PathBuf;

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (or another handle in this one) holds the store's lock.
    #[error("the store at {} is in use by another lucid process", path.display())]
    Locked { path: PathBuf },
    /// The store could not be opened or created.
    #[error(
        "could not open the store at {}: {message}; check that the directory is writable, \
         or use another store with --db PATH (or LUCID_DB)",
        path.display()
    )]
    Open { path: PathBuf, message: String },
    /// The store was written by a newer lucid.
    #[error(
        "the store at {} has schema version {found}, but this lucid supports up to \
         {supported}; upgrade lucid, or use another store with --db PATH",
        path.display()
    )]
    NewerSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// The database files do not read back (a bad byte, a cut file). `snapshots` are
    /// the snapshot files found, which can be set aside for sled to rebuild.
    #[error("{}", damaged_sentence(path, snapshots, detail))]
    Damaged {
        path: PathBuf,
        snapshots: Vec<PathBuf>,
        detail: String,
    },
    /// A record that does not decode.
    #[error("corrupt record in the store: {what}")]
    Corrupt { what: String },
    /// Typed text that names more than one session.
    #[error(transparent)]
    Ambiguous(Box<crate::event::Ambiguity>),
    /// A read or write failed.
    #[error("store I/O error: {0}")]
    Io(String),
}

impl From<sled::Error> for StoreError {
    fn from(err: sled::Error) -> Self {
        match err {
            sled::Error::Corruption { .. } => StoreError::Corrupt {
                what: format!("the database files ({err})"),
            },
            other => StoreError::Io(other.to_string()),
        }
    }
}

/// Where a damaged snapshot file is moved so that sled no longer reads it (sled reads
/// every file named `snap.*` in the store's folder).
pub fn set_aside(snapshot: &std::path::Path) -> PathBuf {
    let name = snapshot
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    snapshot.with_file_name(format!("damaged-{name}"))
}

/// What is damaged, and how to recover, in one paragraph.
fn damaged_sentence(path: &std::path::Path, snapshots: &[PathBuf], detail: &str) -> String {
    let store = path.display();
    let mut text = format!("the store at {store} is damaged: {detail}. Nothing was changed. ");
    if snapshots.is_empty() {
        text.push_str(&format!(
            "Its log ({store}/db) is the damaged part: keep a copy of the folder, and use a \
             fresh store with --db PATH (or LUCID_DB); "
        ));
    } else {
        let moves: Vec<String> = snapshots
            .iter()
            .map(|s| format!("mv {} {}", s.display(), set_aside(s).display()))
            .collect();
        text.push_str(&format!(
            "To recover, move its snapshot aside (sled rebuilds it from the log): `{}`; \
             if it still fails, the log ({store}/db) is damaged too: keep a copy of the \
             folder and use a fresh store with --db PATH; ",
            moves.join(" && ")
        ));
    }
    text.push_str("`lucid store check` says what is readable.");
    text
}
