//! The client's typed calls for memories and dreams (the endpoints of
//! [`crate::memories`] and [`crate::dreams`]). A memory id the user typed
//! goes into the URL only when it can be an id (letters and digits); anything else is no
//! memory, said as the owner would say it.

use super::{Client, ClientError};
use crate::{CreateDream, ImportMemories, MemoryRecord, NewVersion, RevertTo, Review};
use lucid_core::dream::{DreamReport, DreamRun};
use lucid_core::memory::{DiffLine, Edit, Imported, Memory, MemoryError, MemoryStatus, Revert};

/// `id` as a path segment, if it can name a memory.
fn memory_segment(id: &str) -> Result<&str, ClientError> {
    let id = id.trim();
    if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Ok(id);
    }
    Err(ClientError::Refused {
        status: hyper::StatusCode::NOT_FOUND.as_u16(),
        message: MemoryError::NotFound(id.to_string()).to_string(),
    })
}

/// `text` percent-encoded for a query string.
fn query_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `path?key=value&…` for the parameters that are given.
fn with_query(path: &str, params: &[(&str, Option<String>)]) -> String {
    let given: Vec<String> = params
        .iter()
        .filter_map(|(key, value)| value.as_ref().map(|v| format!("{key}={}", query_value(v))))
        .collect();
    if given.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", given.join("&"))
    }
}

impl Client {
    /// `GET /v1/memories`: the memories with `status` of `team` (all when `None`), oldest first.
    pub async fn memories(
        &self,
        status: Option<MemoryStatus>,
        team: Option<&str>,
    ) -> Result<Vec<Memory>, ClientError> {
        let path = with_query(
            "/v1/memories",
            &[
                ("status", status.map(|s| s.as_str().to_string())),
                ("team", team.map(str::to_string)),
            ],
        );
        self.get_json(&path).await
    }

    /// `GET /v1/memories?view=records`: every memory with its versions.
    pub async fn memory_records(&self) -> Result<Vec<MemoryRecord>, ClientError> {
        self.get_json("/v1/memories?view=records").await
    }

    /// `GET /v1/memories/{id}`: a memory (by id or unique prefix) and its versions.
    pub async fn memory(&self, id: &str) -> Result<MemoryRecord, ClientError> {
        let id = memory_segment(id)?;
        self.get_json(&format!("/v1/memories/{id}")).await
    }

    /// `GET /v1/memories/{id}/diff`: version `from` against `to` (default: the previous
    /// version against the current one).
    pub async fn memory_diff(
        &self,
        id: &str,
        from: Option<u32>,
        to: Option<u32>,
    ) -> Result<Vec<DiffLine>, ClientError> {
        let id = memory_segment(id)?;
        let path = with_query(
            &format!("/v1/memories/{id}/diff"),
            &[
                ("from", from.map(|v| v.to_string())),
                ("to", to.map(|v| v.to_string())),
            ],
        );
        self.get_json(&path).await
    }

    /// `POST /v1/memories/{id}/approve` by the person `by` (a proposal, or a rejected or
    /// retired memory again): every memory that changed.
    pub async fn approve_memory(
        &self,
        id: &str,
        by: Option<String>,
    ) -> Result<Vec<Memory>, ClientError> {
        let id = memory_segment(id)?;
        self.post_json(&format!("/v1/memories/{id}/approve"), &Review { by })
            .await
    }

    /// `POST /v1/memories/{id}/reject` by the person `by`: the rejected memory.
    pub async fn reject_memory(&self, id: &str, by: Option<String>) -> Result<Memory, ClientError> {
        let id = memory_segment(id)?;
        self.post_json(&format!("/v1/memories/{id}/reject"), &Review { by })
            .await
    }

    /// `POST /v1/memories/{id}/retire` by the person `by`: the retired memory.
    pub async fn retire_memory(&self, id: &str, by: Option<String>) -> Result<Memory, ClientError> {
        let id = memory_segment(id)?;
        self.post_json(&format!("/v1/memories/{id}/retire"), &Review { by })
            .await
    }

    /// `POST /v1/memories/{id}/revert` by the person `by`: the new version, with the
    /// content of version `revert.to`.
    pub async fn revert_memory(
        &self,
        id: &str,
        revert: Revert,
        by: Option<String>,
    ) -> Result<Memory, ClientError> {
        let id = memory_segment(id)?;
        self.post_json(
            &format!("/v1/memories/{id}/revert"),
            &RevertTo { revert, by },
        )
        .await
    }

    /// `POST /v1/memories/{id}/versions`: the edit as the memory's new version.
    pub async fn revise_memory(
        &self,
        id: &str,
        edit: Edit,
        by: Option<String>,
    ) -> Result<Memory, ClientError> {
        let id = memory_segment(id)?;
        self.post_json(
            &format!("/v1/memories/{id}/versions"),
            &NewVersion { edit, by },
        )
        .await
    }

    /// `POST /v1/memories`: stores proposals; one result per proposal, in order.
    pub async fn import_memories(
        &self,
        proposals: Vec<Memory>,
    ) -> Result<Vec<Imported>, ClientError> {
        self.post_json("/v1/memories", &ImportMemories { proposals })
            .await
    }

    /// `POST /v1/dreams`: the owner dreams; one report per team it dreamt for.
    pub async fn dream(&self, request: &CreateDream) -> Result<Vec<DreamReport>, ClientError> {
        self.post_json("/v1/dreams", request).await
    }

    /// `GET /v1/dreams`: the dreams on record (of `team`), oldest first.
    pub async fn dreams(&self, team: Option<&str>) -> Result<Vec<DreamRun>, ClientError> {
        self.get_json(&with_query(
            "/v1/dreams",
            &[("team", team.map(str::to_string))],
        ))
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn queries_are_escaped_and_ids_stay_ids() {
        assert_eq!(
            with_query(
                "/v1/memories",
                &[("status", None), ("team", Some("a b&c/é".into()))]
            ),
            "/v1/memories?team=a%20b%26c%2F%C3%A9"
        );
        assert_eq!(with_query("/v1/dreams", &[("team", None)]), "/v1/dreams");
        assert_eq!(memory_segment(" 01ABC ").unwrap(), "01ABC");
        let refused = memory_segment("../sessions").unwrap_err();
        assert!(refused.is_usage());
        assert_eq!(
            refused.to_string(),
            "no memory `../sessions`; see `lucid memory list`"
        );
    }
}
