//! Tools: the trait every tool implements, its JSON-schema declaration, and the registry
//! an agent's tool set is drawn from.
//!
//! Environments provide their own tools; the orchestration tools (`delegate`,
//! `ask_advisor`) belong to the runner, which declares them with the helpers here. This
//! module does not run agents.

pub mod mcp;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;

pub use crate::model::ToolSpec;

/// What a tool call gives back to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    pub content: String,
    pub is_error: bool,
    /// The tool itself broke (an MCP server crashed, a sandbox vanished): the run cannot
    /// go on and ends with this output's content as its error.
    pub fatal: bool,
}

impl ToolOutput {
    pub fn ok(content: impl Into<String>) -> Self {
        ToolOutput {
            content: content.into(),
            is_error: false,
            fatal: false,
        }
    }

    pub fn error(content: impl Into<String>) -> Self {
        ToolOutput {
            content: content.into(),
            is_error: true,
            fatal: false,
        }
    }

    /// A failure of the tool itself that must end the run (see [`ToolOutput::fatal`]).
    pub fn fatal(content: impl Into<String>) -> Self {
        ToolOutput {
            content: content.into(),
            is_error: true,
            fatal: true,
        }
    }
}

/// Something an agent can call.
pub trait Tool: Send + Sync {
    fn spec(&self) -> ToolSpec;
    fn call(&self, input: serde_json::Value) -> BoxFuture<'static, ToolOutput>;
}

/// Parses a tool's arguments, or says in one sentence what is wrong with them so the
/// model can correct its call.
pub fn parse_args<T: DeserializeOwned>(
    tool: &str,
    input: serde_json::Value,
) -> Result<T, ToolOutput> {
    if let serde_json::Value::String(raw) = &input {
        return Err(ToolOutput::error(format!(
            "{tool}: the arguments are not valid JSON ({raw:?}); send a JSON object"
        )));
    }
    serde_json::from_value(input)
        .map_err(|err| ToolOutput::error(format!("{tool}: invalid arguments: {err}")))
}

/// The tools available in one context, by name.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: BTreeMap<String, Arc<dyn Tool>>,
}

impl ToolRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, tool: Arc<dyn Tool>) {
        self.tools.insert(tool.spec().name, tool);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.tools.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tools.keys().map(String::as_str)
    }

    /// The declarations of the named tools that exist here, in the order given.
    pub fn specs(&self, names: &[String]) -> Vec<ToolSpec> {
        names
            .iter()
            .filter_map(|name| self.tools.get(name))
            .map(|tool| tool.spec())
            .collect()
    }
}

impl FromIterator<Arc<dyn Tool>> for ToolRegistry {
    fn from_iter<I: IntoIterator<Item = Arc<dyn Tool>>>(iter: I) -> Self {
        let mut registry = ToolRegistry::new();
        for tool in iter {
            registry.insert(tool);
        }
        registry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    struct Add;

    #[derive(Deserialize)]
    struct AddArgs {
        a: f64,
        b: f64,
    }

    impl Tool for Add {
        fn spec(&self) -> ToolSpec {
            ToolSpec {
                name: "add".into(),
                description: "Adds two numbers.".into(),
                input_schema: json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}),
            }
        }
        fn call(&self, input: serde_json::Value) -> BoxFuture<'static, ToolOutput> {
            let out = match parse_args::<AddArgs>("add", input) {
                Ok(args) => ToolOutput::ok((args.a + args.b).to_string()),
                Err(err) => err,
            };
            Box::pin(async move { out })
        }
    }

    #[tokio::test]
    async fn registry_finds_tools_and_bad_arguments_become_tool_errors() {
        let registry: ToolRegistry = [Arc::new(Add) as Arc<dyn Tool>].into_iter().collect();
        assert_eq!(registry.names().collect::<Vec<_>>(), vec!["add"]);
        assert_eq!(registry.specs(&["add".into(), "nope".into()]).len(), 1);
        let tool = registry.get("add").unwrap();
        assert_eq!(
            tool.call(json!({"a": 1, "b": 2})).await,
            ToolOutput::ok("3")
        );
        let bad = tool.call(json!({"a": "x"})).await;
        assert!(bad.is_error && bad.content.contains("invalid arguments"));
        let raw = tool.call(json!("{\"a\": ")).await;
        assert!(raw.is_error && raw.content.contains("not valid JSON"));
    }
}
