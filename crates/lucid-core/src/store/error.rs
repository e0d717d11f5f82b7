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
    /// A record that does not decode.
    #[error("corrupt record in the store: {what}")]
    Corrupt { what: String },
    /// A session id prefix that matches more than one session.
    #[error("`{prefix}` matches {count} sessions; give more characters of the id")]
    Ambiguous { prefix: String, count: usize },
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
