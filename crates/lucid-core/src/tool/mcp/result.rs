//! A `tools/call` result turned into the text a model reads.
//!
//! Text stays text; structured content becomes compact JSON; images, audio and binary
//! resources become one placeholder line each (the model cannot see them). The whole is
//! sanitised (the text also reaches the store and terminals) and bounded.

use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};

use crate::event::sanitize;
use crate::tool::ToolOutput;

/// The most text of one result passed on to the model.
pub const MAX_RESULT_BYTES: usize = 64 * 1024;

/// The model-facing output of a result: text, an error if the server flagged one.
pub fn render(result: &CallToolResult) -> ToolOutput {
    let mut parts: Vec<String> = result.content.iter().map(block_text).collect();
    let has_text = result
        .content
        .iter()
        .any(|block| matches!(block, ContentBlock::Text(_)));
    // Servers should repeat structured content as a text block; add it only when missing.
    if let Some(structured) = &result.structured_content {
        if !has_text {
            parts.push(structured.to_string());
        }
    }
    let text = if parts.is_empty() {
        "(the tool returned no content)".to_string()
    } else {
        bound(&sanitize(&parts.join("\n")), MAX_RESULT_BYTES)
    };
    if result.is_error == Some(true) {
        ToolOutput::error(text)
    } else {
        ToolOutput::ok(text)
    }
}

fn block_text(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(text) => text.text.clone(),
        ContentBlock::Image(image) => format!(
            "[image: {}, {} bytes]",
            image.mime_type,
            base64_len(&image.data)
        ),
        ContentBlock::Audio(audio) => format!(
            "[audio: {}, {} bytes]",
            audio.mime_type,
            base64_len(&audio.data)
        ),
        ContentBlock::Resource(embedded) => match &embedded.resource {
            ResourceContents::TextResourceContents { uri, text, .. } => {
                format!("[resource: {uri}]\n{text}")
            }
            ResourceContents::BlobResourceContents {
                uri,
                mime_type,
                blob,
                ..
            } => format!(
                "[resource: {uri}, {}, {} bytes]",
                mime_type.as_deref().unwrap_or("binary"),
                base64_len(blob)
            ),
            #[allow(unreachable_patterns)]
            _ => "[resource]".to_string(),
        },
        ContentBlock::ResourceLink(link) => {
            let mut line = format!("[resource link: {}", link.uri);
            if !link.name.is_empty() {
                line.push_str(&format!(" ({})", link.name));
            }
            line.push(']');
            line
        }
        // `ContentBlock` is non-exhaustive: say what arrived rather than drop it.
        #[allow(unreachable_patterns)]
        other => match serde_json::to_value(other) {
            Ok(value) => format!(
                "[{} content]",
                value
                    .get("type")
                    .and_then(|t| t.as_str())
                    .unwrap_or("unknown")
            ),
            Err(_) => "[unknown content]".to_string(),
        },
    }
}

/// The decoded size of base64 `data`.
fn base64_len(data: &str) -> usize {
    let significant = data.bytes().filter(|b| !b.is_ascii_whitespace()).count();
    let padding = data.bytes().rev().take_while(|b| *b == b'=').count().min(2);
    (significant * 3 / 4).saturating_sub(padding)
}

/// At most `max` bytes of `text`, the head kept and the cut said.
pub fn bound(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n[… output cut: {} more bytes of {} not shown]",
        &text[..end],
        text.len() - end,
        text.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::ContentBlock;
    use serde_json::json;

    fn result(value: serde_json::Value) -> CallToolResult {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn every_content_kind_becomes_text() {
        let out = render(&result(json!({
            "content": [
                {"type": "text", "text": "hello \u{1b}[31mred\u{1b}[0m"},
                {"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"},
                {"type": "audio", "data": "AAAA", "mimeType": "audio/wav"},
                {"type": "resource", "resource": {"uri": "file:///a.txt", "text": "inside"}},
                {"type": "resource", "resource": {"uri": "file:///b.bin", "blob": "AAAAAA==", "mimeType": "application/octet-stream"}},
                {"type": "resource_link", "uri": "file:///c", "name": "c"}
            ]
        })));
        assert!(!out.is_error);
        assert_eq!(
            out.content,
            "hello red\n[image: image/png, 8 bytes]\n[audio: audio/wav, 3 bytes]\n\
             [resource: file:///a.txt]\ninside\n\
             [resource: file:///b.bin, application/octet-stream, 4 bytes]\n\
             [resource link: file:///c (c)]"
        );
    }

    #[test]
    fn structured_content_is_compact_json_when_no_text_carries_it() {
        let out = render(&result(
            json!({"content": [], "structuredContent": {"sum": 3, "list": [1, 2]}}),
        ));
        assert_eq!(out.content, r#"{"list":[1,2],"sum":3}"#);
        let both = render(&result(
            json!({"content": [{"type": "text", "text": "{\"sum\": 3}"}], "structuredContent": {"sum": 3}}),
        ));
        assert_eq!(both.content, "{\"sum\": 3}");
    }

    #[test]
    fn is_error_becomes_a_tool_error_and_empty_results_say_so() {
        let out = render(&result(
            json!({"content": [{"type": "text", "text": "denied"}], "isError": true}),
        ));
        assert_eq!(out, ToolOutput::error("denied"));
        assert_eq!(
            render(&result(json!({"content": []}))).content,
            "(the tool returned no content)"
        );
    }

    #[test]
    fn long_results_are_cut_on_a_char_boundary_with_the_cut_said() {
        let long = "é".repeat(MAX_RESULT_BYTES); // 2 bytes each
        let out = render(&CallToolResult::success(vec![ContentBlock::text(long)]));
        let (head, note) = out.content.split_once("\n[… output cut: ").unwrap();
        assert_eq!(head.len(), MAX_RESULT_BYTES);
        assert!(note.starts_with(&format!("{} more bytes", MAX_RESULT_BYTES)));
        assert_eq!(bound("short", 10), "short");
    }
}
