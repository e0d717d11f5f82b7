//! `[tools.NAME]`: a command of the user's own offered to agents as a tool.
//!
//! The command is an argument list; each `{param}` inside an argument is replaced by the
//! call's argument of that name (strings as they are, numbers and booleans as written).
//! Nothing passes through a shell, so `; rm -rf /` or `$(…)` in an argument is just text
//! given to the program. The command runs in the environment's folder, in its sandbox.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::sandbox::Program;
use crate::spec::{ArgPiece, CommandTool as CommandToolSpec};
use crate::tool::{Tool, ToolOutput, ToolSpec};
use crate::world::folder::WorkFolder;

/// Why a call's arguments do not make a command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgumentError {
    #[error("the arguments must be a JSON object")]
    NotAnObject,
    #[error("the argument `{name}` is missing")]
    Missing { name: String },
    #[error("the argument `{name}` must be a string, number or boolean")]
    NotAScalar { name: String },
}

/// A `[tools.NAME]` command bound to the folder it runs in.
pub struct CommandTool {
    spec: CommandToolSpec,
    folder: Arc<WorkFolder>,
}

impl CommandTool {
    pub fn new(spec: CommandToolSpec, folder: Arc<WorkFolder>) -> Self {
        CommandTool { spec, folder }
    }

    /// The argument list for one call, or what is wrong with the call's arguments.
    pub fn argv(spec: &CommandToolSpec, input: &Value) -> Result<Vec<String>, ArgumentError> {
        let args = match input {
            Value::Object(map) => map.clone(),
            Value::Null => serde_json::Map::new(),
            _ => return Err(ArgumentError::NotAnObject),
        };
        spec.argv
            .iter()
            .map(|template| {
                let mut out = String::new();
                for piece in CommandToolSpec::pieces(template) {
                    match piece {
                        ArgPiece::Text(text) => out.push_str(&text),
                        ArgPiece::Param(name) => match args.get(&name) {
                            Some(Value::String(s)) => out.push_str(s),
                            Some(Value::Number(n)) => out.push_str(&n.to_string()),
                            Some(Value::Bool(b)) => out.push_str(&b.to_string()),
                            Some(Value::Null) | None => {
                                return Err(ArgumentError::Missing { name })
                            }
                            Some(_) => return Err(ArgumentError::NotAScalar { name }),
                        },
                    }
                }
                Ok(out)
            })
            .collect()
    }
}

impl Tool for CommandTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.spec.name.clone(),
            description: self.spec.description.clone(),
            input_schema: self.spec.input_schema.clone(),
        }
    }

    fn call(&self, input: Value) -> BoxFuture<'static, ToolOutput> {
        let argv = Self::argv(&self.spec, &input);
        let folder = Arc::clone(&self.folder);
        let name = self.spec.name.clone();
        let timeout = self.spec.timeout_s.map(Duration::from_secs);
        Box::pin(async move {
            let argv = match argv {
                Ok(argv) => argv,
                Err(err) => return ToolOutput::error(format!("{name}: {err}")),
            };
            match folder
                .run(Program::Argv(argv), timeout, std::future::pending())
                .await
            {
                Ok(output) if output.success() => ToolOutput::ok(output.render()),
                Ok(output) => ToolOutput::error(output.render()),
                Err(err) => ToolOutput::error(format!("{name}: {err}")),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(argv: &[&str]) -> CommandToolSpec {
        CommandToolSpec {
            name: "t".into(),
            description: "d".into(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            input_schema: json!({"type": "object"}),
            timeout_s: None,
        }
    }

    #[test]
    fn placeholders_take_the_arguments_verbatim() {
        let tool = spec(&["grep", "-n", "{pattern}", "--max={n}", "{{literal}}"]);
        let argv =
            CommandTool::argv(&tool, &json!({"pattern": "; rm -rf / $(id)", "n": 3})).unwrap();
        assert_eq!(
            argv,
            vec!["grep", "-n", "; rm -rf / $(id)", "--max=3", "{literal}"]
        );
        let err = CommandTool::argv(&tool, &json!({"n": 3})).unwrap_err();
        assert_eq!(
            err,
            ArgumentError::Missing {
                name: "pattern".into()
            }
        );
        assert!(err.to_string().contains("`pattern` is missing"), "{err}");
        let err = CommandTool::argv(&tool, &json!({"pattern": ["a"], "n": 1})).unwrap_err();
        assert!(
            err.to_string().contains("string, number or boolean"),
            "{err}"
        );
        let err = CommandTool::argv(&tool, &json!([1])).unwrap_err();
        assert_eq!(err.to_string(), "the arguments must be a JSON object");
    }
}
