//! What the gateway reads from a whole (non-streamed) OpenAI chat completion, borrowed from its
//! bytes: each text field the answer's redaction covers, as its raw JSON string and where it
//! lies, and the raw `usage`. The redactor splices changed texts into the original bytes
//! (`redact::answer::redact_openai_view`) and usage is read from its own slice, so nothing is
//! parsed into a tree or written out again: the tree and its drop were the largest part of a
//! redacted small answer's own work (`load-tests/RESULTS.md`, session 13).
//!
//! Read in one pass by `plain_json`, strictly: each known field at most once and of its usual
//! type. Anything else (content as an array of parts, a repeated key, a string outside the
//! plain subset) gives `None`, and the caller parses the answer as a tree, as it did before;
//! the differential tests hold the two readings to the same texts.

use crate::plain_json::{Cursor, Seen};
use crate::sse::view::TextAt;

/// A whole OpenAI answer, as far as redaction and usage read it.
pub struct OpenAiAnswer<'a> {
    /// In order, per choice: `message.content`, then each tool call's `function.arguments`
    /// (`json`); only strings (the tree reading skips a `null` or a non-string argument too).
    pub texts: Vec<TextAt<'a>>,
    /// The `usage` field as written, if present (`null` included).
    pub usage: Option<&'a str>,
}

/// The answer `body`, if it is of the plain subset and the usual shape.
pub fn openai(body: &str) -> Option<OpenAiAnswer<'_>> {
    let mut c = Cursor::new(body);
    let (mut texts, mut usage) = (Vec::new(), None);
    let mut seen = Seen::default();
    c.object(|c, key| match key {
        "choices" => {
            seen.once(0)?;
            c.array_or_null(|c| choice(c, &mut texts))
        }
        "usage" => {
            seen.once(1)?;
            usage = Some(c.value_raw(1)?);
            Some(())
        }
        _ => c.skip(1),
    })?;
    c.end()?;
    Some(OpenAiAnswer { texts, usage })
}

/// One choice: the texts of its `message`.
fn choice<'a>(c: &mut Cursor<'a>, texts: &mut Vec<TextAt<'a>>) -> Option<()> {
    let mut seen = Seen::default();
    c.object(|c, key| match key {
        "message" => {
            seen.once(0)?;
            message(c, texts)
        }
        _ => c.skip(3),
    })
}

/// `null`, or a message: a string `content` (an array of parts is left to the tree), then
/// each tool call's arguments, in that order whatever the order of the keys.
fn message<'a>(c: &mut Cursor<'a>, texts: &mut Vec<TextAt<'a>>) -> Option<()> {
    let (mut content, mut calls) = (None, Vec::new());
    let mut seen = Seen::default();
    c.object_or_null(|c, key| match key {
        "content" => {
            seen.once(0)?;
            if !c.null() {
                // A string; anything else (an array of parts) is left to the tree.
                let (raw, text) = c.text_literal()??;
                content = Some(TextAt {
                    tool: None,
                    json: false,
                    raw,
                    text,
                });
            }
            Some(())
        }
        "tool_calls" => {
            seen.once(1)?;
            c.array_or_null(|c| {
                let position = calls.len() as u64;
                calls.push(arguments(c, position)?);
                Some(())
            })
        }
        _ => c.skip(4),
    })?;
    texts.extend(content);
    texts.extend(calls.into_iter().flatten());
    Some(())
}

/// One tool call: its `function.arguments`, if they are a string.
fn arguments<'a>(c: &mut Cursor<'a>, position: u64) -> Option<Option<TextAt<'a>>> {
    let mut found = None;
    let mut seen = Seen::default();
    c.object(|c, key| match key {
        "function" => {
            seen.once(0)?;
            let mut seen = Seen::default();
            c.object_or_null(|c, key| match key {
                "arguments" => {
                    seen.once(0)?;
                    found = c.text_literal()?;
                    Some(())
                }
                _ => c.skip(6),
            })
        }
        _ => c.skip(5),
    })?;
    Some(found.map(|(raw, text)| TextAt {
        tool: Some(position),
        json: true,
        raw,
        text,
    }))
}

#[cfg(test)]
#[path = "answer_view_tests.rs"]
mod tests;
