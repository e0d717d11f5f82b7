//! A Chat Completions request body read straight into lucid's request, without a JSON
//! tree: what the policy server does for every request, so it stays a cheap partner on
//! the two cores `lucid bench fleet` shares with the client. A body of any other shape
//! (a part that is not an object, a field of an unexpected type) is read through
//! [`wire::decode_request`] instead, which tolerates anything: both give the same
//! request for the same body.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use crate::wire;
use lucid_core::model::{ContentBlock, Message, ModelRequest, Role, ToolChoice, ToolSpec};

/// The model a body names when it names none.
const DEFAULT_MODEL: &str = "policy";

/// A request body, decoded.
pub struct Decoded {
    pub request: ModelRequest,
    /// The `model` the client asked for; `policy` when none was given.
    pub model: String,
    /// Whether it asked for a streamed answer.
    pub stream: bool,
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(default, borrow)]
    messages: Option<Vec<WireMessage<'a>>>,
    #[serde(default, borrow)]
    tools: Option<Vec<WireTool<'a>>>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
    #[serde(default, borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    stream: Option<bool>,
}

#[derive(Deserialize)]
struct WireMessage<'a> {
    #[serde(default, borrow)]
    role: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    content: Option<Content<'a>>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<WireCall<'a>>>,
    #[serde(default, borrow)]
    tool_call_id: Option<Cow<'a, str>>,
}

/// A message's `content`: a string, or parts that each may have a `text`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Content<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Parts(#[serde(borrow)] Vec<Part<'a>>),
}

#[derive(Deserialize)]
struct Part<'a> {
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireCall<'a> {
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    function: Option<WireFunction<'a>>,
}

#[derive(Deserialize)]
struct WireFunction<'a> {
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    description: Option<Cow<'a, str>>,
    #[serde(default)]
    parameters: Option<Value>,
}

#[derive(Deserialize)]
struct WireTool<'a> {
    #[serde(default, borrow)]
    function: Option<WireFunction<'a>>,
}

/// The body as lucid's request, its `model` and whether it streams; `None` when it is
/// not JSON.
pub fn decode(bytes: &[u8]) -> Option<Decoded> {
    match serde_json::from_slice::<Body>(bytes) {
        Ok(body) => Some(typed(body)),
        Err(_) => {
            let body: Value = serde_json::from_slice(bytes).ok()?;
            Some(Decoded {
                request: wire::decode_request(&body),
                model: body
                    .get("model")
                    .and_then(Value::as_str)
                    .unwrap_or(DEFAULT_MODEL)
                    .to_string(),
                stream: wire::wants_stream(&body),
            })
        }
    }
}

fn text(content: Option<&Content>) -> String {
    match content {
        Some(Content::Text(text)) => text.to_string(),
        Some(Content::Parts(parts)) => parts
            .iter()
            .filter_map(|part| part.text.as_deref())
            .collect::<Vec<_>>()
            .join("\n"),
        None => String::new(),
    }
}

fn or_empty(text: Option<&Cow<str>>) -> String {
    text.map(|t| t.to_string()).unwrap_or_default()
}

fn typed(body: Body) -> Decoded {
    let mut system = String::new();
    let mut messages: Vec<Message> = Vec::new();
    for m in body.messages.iter().flatten() {
        match m.role.as_deref().unwrap_or("user") {
            "system" | "developer" => system = text(m.content.as_ref()),
            "assistant" => {
                let mut content = Vec::new();
                let said = text(m.content.as_ref());
                if !said.is_empty() {
                    content.push(ContentBlock::Text { text: said });
                }
                for call in m.tool_calls.iter().flatten() {
                    let function = call.function.as_ref();
                    content.push(wire::tool_use(
                        call.id.as_deref().unwrap_or(""),
                        function.and_then(|f| f.name.as_deref()).unwrap_or(""),
                        function.and_then(|f| f.arguments.as_deref()),
                    ));
                }
                messages.push(Message {
                    role: Role::Assistant,
                    content,
                });
            }
            "tool" => wire::add_tool_result(
                &mut messages,
                m.tool_call_id.as_deref().unwrap_or(""),
                text(m.content.as_ref()),
            ),
            _ => messages.push(Message::user_text(text(m.content.as_ref()))),
        }
    }
    let tools: Vec<ToolSpec> = body
        .tools
        .into_iter()
        .flatten()
        .map(|tool| {
            let function = tool.function;
            ToolSpec {
                name: or_empty(function.as_ref().and_then(|f| f.name.as_ref())),
                description: or_empty(function.as_ref().and_then(|f| f.description.as_ref())),
                input_schema: function.and_then(|f| f.parameters).unwrap_or(Value::Null),
            }
        })
        .collect();
    let max_tokens = body.max_tokens.or(body.max_completion_tokens).unwrap_or(0);
    Decoded {
        request: ModelRequest {
            system,
            messages: messages.into(),
            tools: tools.into(),
            tool_choice: ToolChoice::Auto,
            max_tokens: u32::try_from(max_tokens).unwrap_or(u32::MAX),
            temperature: None,
        },
        model: body.model.as_deref().unwrap_or(DEFAULT_MODEL).to_string(),
        stream: body.stream.unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What the tolerant tree-based reading makes of the same body.
    fn through_a_tree(body: &Value) -> (ModelRequest, bool) {
        (wire::decode_request(body), wire::wants_stream(body))
    }

    #[test]
    fn the_typed_reading_makes_the_request_the_tree_makes() {
        let bodies = [
            json!({"model": "policy", "stream": true, "max_tokens": 300,
                "messages": [
                    {"role": "system", "content": "You are the lead."},
                    {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image"}, {"text": "b"}]},
                    {"role": "assistant", "content": "", "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "tick", "arguments": "{\"n\":1}"}},
                        {"id": "c2", "type": "function", "function": {"name": "tick", "arguments": "{broken"}},
                        {"type": "function", "function": {}}]},
                    {"role": "tool", "tool_call_id": "c1", "content": "ok"},
                    {"role": "tool", "tool_call_id": "c2", "content": "ERROR: bad"},
                    {"role": "user", "content": "again"},
                    {"role": "tool", "content": null},
                    {"role": "developer", "content": "be brief"},
                    {"content": "no role"}],
                "tools": [{"type": "function", "function": {"name": "tick", "description": "Ticks.",
                    "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}}}},
                    {"type": "function"}]}),
            json!({"max_completion_tokens": 7}),
            json!({}),
        ];
        for body in &bodies {
            let bytes = serde_json::to_vec(body).unwrap();
            assert!(
                serde_json::from_slice::<Body>(&bytes).is_ok(),
                "typed: {body}"
            );
            let decoded = decode(&bytes).unwrap();
            let (request, stream) = through_a_tree(body);
            assert_eq!(decoded.request, request, "{body}");
            assert_eq!(decoded.stream, stream);
            assert_eq!(
                decoded.model,
                body.get("model")
                    .and_then(Value::as_str)
                    .unwrap_or("policy")
            );
        }
    }

    #[test]
    fn a_body_of_another_shape_is_read_through_the_tree_and_not_json_is_none() {
        // `stream` as a string and a part that is a bare string: the typed reading
        // refuses them, the tree reads them as it always did.
        let odd = json!({"stream": "yes", "messages": [{"role": "user", "content": ["x", {"text": "y"}]}]});
        let bytes = serde_json::to_vec(&odd).unwrap();
        assert!(serde_json::from_slice::<Body>(&bytes).is_err());
        let decoded = decode(&bytes).unwrap();
        let (request, stream) = through_a_tree(&odd);
        assert_eq!(decoded.request, request);
        assert_eq!(decoded.stream, stream);
        assert!(decode(b"{not json").is_none());
    }
}
