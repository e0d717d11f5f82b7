//! Lexing: turns the source text of a check expression into tokens with byte spans,
//! reporting unknown characters, bad numbers and bad string literals.

use super::{perr, CheckParseError, Value};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Val(Value),
    Ident(String),
    /// An operator, keyword or parenthesis; `&&`, `||`, `!` become `and`, `or`, `not`.
    Op(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) start: usize,
    pub(super) end: usize,
}

/// Operator spellings, each before any spelling that is a prefix of it.
const OPERATORS: &str = "<= >= == != && || < > ! + - * / ( )";

/// Tokenizes `src`; the last token is always [`Tok::Eof`].
pub(super) fn lex(src: &str) -> Result<Vec<Token>, CheckParseError> {
    let bytes = src.as_bytes();
    let is_ident = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    let is_digit = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_digit);
    let digits_end = |j: usize| (j..).find(|&k| !is_digit(k)).unwrap_or(j);
    let mut toks = Vec::new();
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        let rest = src.get(i..).unwrap_or("");
        let (tok, len) = if c.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if c.is_ascii_digit() {
            let mut j = digits_end(i);
            if bytes.get(j) == Some(&b'.') {
                j = digits_end(j + 1);
                if !is_digit(j - 1) {
                    return Err(perr("expected a digit after `.` in a number", j - 1));
                }
            }
            let text = src.get(i..j).unwrap_or("");
            match text.parse::<f64>() {
                Ok(n) if n.is_finite() => (Tok::Val(Value::Num(n)), j - i),
                _ => return Err(perr(format!("number `{text}` is too large"), i)),
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            // Dots join name segments: `site.slope`.
            let mut j = i + 1;
            while bytes.get(j).is_some_and(is_ident)
                || (bytes.get(j) == Some(&b'.') && bytes.get(j + 1).is_some_and(is_ident))
            {
                j += 1;
            }
            let tok = match src.get(i..j).unwrap_or("") {
                "and" => Tok::Op("and"),
                "or" => Tok::Op("or"),
                "not" => Tok::Op("not"),
                "true" => Tok::Val(Value::Bool(true)),
                "false" => Tok::Val(Value::Bool(false)),
                word => Tok::Ident(word.to_string()),
            };
            (tok, j - i)
        } else if c == b'"' {
            lex_string(src, i)?
        } else if let Some(op) = OPERATORS.split_whitespace().find(|op| rest.starts_with(op)) {
            let canonical = match op {
                "&&" => "and",
                "||" => "or",
                "!" => "not",
                op => op,
            };
            (Tok::Op(canonical), op.len())
        } else {
            let ch = rest.chars().next().unwrap_or('?');
            let hint = match ch {
                '=' => " (did you mean `==`?)",
                '&' => " (did you mean `&&` or `and`?)",
                '|' => " (did you mean `||` or `or`?)",
                _ => "",
            };
            let msg = format!("unknown character `{}`{hint}", ch.escape_debug());
            return Err(perr(msg, i));
        };
        let (start, end) = (i, i + len);
        toks.push(Token { tok, start, end });
        i = end;
    }
    let (tok, start, end) = (Tok::Eof, src.len(), src.len());
    toks.push(Token { tok, start, end });
    Ok(toks)
}

/// Lexes the string literal whose opening `"` is at `start`: the token and its length.
fn lex_string(src: &str, start: usize) -> Result<(Tok, usize), CheckParseError> {
    let mut value = String::new();
    let mut chars = src.get(start + 1..).unwrap_or("").char_indices();
    while let Some((j, ch)) = chars.next() {
        match ch {
            '"' => return Ok((Tok::Val(Value::Str(value)), j + 2)),
            '\\' => match chars.next() {
                Some((_, e @ ('"' | '\\'))) => value.push(e),
                Some((_, e)) => {
                    let only = "only `\\\"` and `\\\\` are allowed";
                    let msg = format!("unknown escape `\\{e}` in string; {only}");
                    return Err(perr(msg, start + 1 + j));
                }
                None => break,
            },
            ch => value.push(ch),
        }
    }
    Err(perr("unterminated string", start))
}
