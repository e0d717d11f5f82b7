//! An MCP server's tool as a lucid [`Tool`], under a name models accept.
//!
//! Providers require tool names matching `^[a-zA-Z0-9_-]{1,64}$`; MCP allows more. The
//! exposed name is `SERVER__TOOL` with other characters turned into `_` and cut to 64,
//! made unique with a numeric suffix; the tool keeps the real name for the call.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::client::{self, ServerState};
use super::result;
use super::SEPARATOR;
use crate::event::sanitize;
use crate::tool::{Tool, ToolOutput, ToolSpec};

/// The longest tool name providers accept.
pub const MAX_TOOL_NAME: usize = 64;
/// The most of a server's tool description passed on to models.
pub const MAX_DESCRIPTION_BYTES: usize = 8 * 1024;

/// One tool of one server.
pub struct McpTool {
    spec: ToolSpec,
    real_name: String,
    state: Arc<ServerState>,
}

impl McpTool {
    pub(crate) fn new(spec: ToolSpec, real_name: String, state: Arc<ServerState>) -> McpTool {
        McpTool {
            spec,
            real_name,
            state,
        }
    }

    /// The tool's name on its server.
    pub fn real_name(&self) -> &str {
        &self.real_name
    }
}

impl Tool for McpTool {
    fn spec(&self) -> ToolSpec {
        self.spec.clone()
    }

    fn call(&self, input: serde_json::Value) -> BoxFuture<'static, ToolOutput> {
        Box::pin(client::call(
            Arc::clone(&self.state),
            self.real_name.clone(),
            input,
        ))
    }
}

/// The declaration models see for server tool `tool`, named `exposed`.
pub fn spec_of(exposed: String, tool: &rmcp::model::Tool) -> ToolSpec {
    let description = tool
        .description
        .as_deref()
        .or(tool.title.as_deref())
        .unwrap_or_default();
    ToolSpec {
        name: exposed,
        description: result::bound(&sanitize(description), MAX_DESCRIPTION_BYTES),
        input_schema: serde_json::Value::Object(tool.input_schema.as_ref().clone()),
    }
}

/// A name in the characters providers accept: every other character becomes `_`.
fn exposed_tool_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `SERVER__TOOL` in the characters and length providers accept, unique among `taken`
/// (which it joins).
pub fn exposed_name(server: &str, tool: &str, taken: &mut BTreeSet<String>) -> String {
    let clean: String = exposed_tool_part(&format!("{server}{SEPARATOR}{tool}"))
        .chars()
        .take(MAX_TOOL_NAME)
        .collect();
    let mut name = clean.clone();
    let mut n = 2;
    while taken.contains(&name) {
        let suffix = format!("_{n}");
        let keep = MAX_TOOL_NAME - suffix.len();
        name = format!("{}{suffix}", &clean[..clean.len().min(keep)]);
        n += 1;
    }
    taken.insert(name.clone());
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str) -> bool {
        (1..=MAX_TOOL_NAME).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    #[test]
    fn names_are_made_acceptable_and_unique() {
        let mut taken = BTreeSet::new();
        assert_eq!(exposed_name("fs", "read_file", &mut taken), "fs__read_file");
        assert_eq!(
            exposed_name("my srv", "get.thing/ü", &mut taken),
            "my_srv__get_thing__"
        );
        assert_eq!(
            exposed_name("my.srv", "get thing/ü", &mut taken),
            "my_srv__get_thing___2"
        );
        let long = "x".repeat(100);
        let a = exposed_name("s", &long, &mut taken);
        let b = exposed_name("s", &format!("{long}y"), &mut taken);
        assert_eq!(a.len(), MAX_TOOL_NAME);
        assert_ne!(a, b);
        assert!(b.ends_with("_2"));
        for name in &taken {
            assert!(valid(name), "{name}");
        }
    }

    #[test]
    fn the_spec_keeps_description_and_schema() {
        let tool: rmcp::model::Tool = serde_json::from_value(serde_json::json!({
            "name": "echo",
            "description": "Echoes \u{1b}[31mback",
            "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}}}
        }))
        .unwrap();
        let spec = spec_of("srv__echo".into(), &tool);
        assert_eq!(spec.name, "srv__echo");
        assert_eq!(spec.description, "Echoes back");
        assert_eq!(spec.input_schema["properties"]["message"]["type"], "string");
    }
}
