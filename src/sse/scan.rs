//! The fast reading of the events providers send, tried first by `view::openai` and
//! `view::anthropic`: one pass over the bytes, no serde machinery.
//!
//! It reads only the plain subset of JSON that `plain_json` reads, each known field at most
//! once and of its usual type, and no `usage` object (the one usage chunk of a stream). For
//! anything else it returns `None`, and `serde_json` reads the event as before. So where it
//! answers, it answers exactly what the strict reading would (the differential tests in
//! `scan_tests.rs` hold it to that), only faster: reading an event was the largest part of a
//! redacted stream's own time (`cargo bench --bench redact -- sse_view`).

use super::view::{AnthropicEvent, OpenAiChoice, OpenAiChunk, TextAt};
use crate::plain_json::{Cursor, Seen};
use std::borrow::Cow;
use std::ops::Range;

/// An OpenAI chunk, if it is of the plain subset.
pub fn openai(data: &str) -> Option<OpenAiChunk<'_>> {
    openai_at(&mut Cursor::new(data))
}

/// As `openai`, with where each string value of the chunk lies (keys are not values), in
/// order: the holes of an event template (`template.rs`).
pub(super) fn openai_recorded(data: &str) -> Option<(OpenAiChunk<'_>, Vec<Range<usize>>)> {
    let mut c = Cursor::new(data);
    c.holes = Some(Vec::new());
    let chunk = openai_at(&mut c)?;
    Some((chunk, c.holes.unwrap_or_default()))
}

fn openai_at<'a>(c: &mut Cursor<'a>) -> Option<OpenAiChunk<'a>> {
    let mut choices = Vec::new();
    let mut seen = Seen::default();
    c.object(|c, key| match key {
        "choices" => {
            seen.once(0)?;
            c.array_or_null(|c| {
                let pos = choices.len() as u64;
                choices.push(openai_choice(c, pos)?);
                Some(())
            })
        }
        // The usage chunk (once per stream) is read by `serde_json`.
        "usage" => {
            seen.once(1)?;
            c.null().then_some(())
        }
        _ => c.skip(1),
    })?;
    c.end()?;
    Some(OpenAiChunk {
        choices,
        usage: None,
    })
}

fn openai_choice<'a>(c: &mut Cursor<'a>, pos: u64) -> Option<OpenAiChoice<'a>> {
    let (mut index, mut ending) = (None, false);
    let (mut content, mut refusal, mut tools) = (None, None, Vec::new());
    let mut seen = Seen::default();
    c.object(|c, key| match key {
        "index" => {
            seen.once(0)?;
            index = c.uint()?;
            Some(())
        }
        "finish_reason" => {
            seen.once(1)?;
            ending = !c.null();
            if ending {
                c.skip(3)?;
            }
            Some(())
        }
        "delta" => {
            seen.once(2)?;
            let mut seen = Seen::default();
            c.object_or_null(|c, key| match key {
                "content" => {
                    seen.once(0)?;
                    content = text(c, None, false)?;
                    Some(())
                }
                "refusal" => {
                    seen.once(1)?;
                    refusal = text(c, None, false)?.map(|t| t.text);
                    Some(())
                }
                "tool_calls" => {
                    seen.once(2)?;
                    c.array_or_null(|c| {
                        let tpos = tools.len() as u64;
                        tools.push(tool_call(c, tpos)?);
                        Some(())
                    })
                }
                _ => c.skip(4),
            })
        }
        _ => c.skip(3),
    })?;
    // As the strict reading orders them: the content, then each tool call's arguments.
    let texts = content
        .into_iter()
        .chain(tools.into_iter().flatten())
        .collect();
    Some(OpenAiChoice {
        index: index.unwrap_or(pos),
        ending,
        texts,
        refusal,
    })
}

/// One tool call: its arguments, if they are a string.
fn tool_call<'a>(c: &mut Cursor<'a>, tpos: u64) -> Option<Option<TextAt<'a>>> {
    let (mut index, mut arguments) = (None, None);
    let mut seen = Seen::default();
    c.object(|c, key| match key {
        "index" => {
            seen.once(0)?;
            index = c.uint()?;
            Some(())
        }
        "function" => {
            seen.once(1)?;
            let mut seen = Seen::default();
            c.object_or_null(|c, key| match key {
                "arguments" => {
                    seen.once(0)?;
                    arguments = Some(c.text_literal()?);
                    Some(())
                }
                _ => c.skip(7),
            })
        }
        _ => c.skip(6),
    })?;
    let tool = Some(index.unwrap_or(tpos));
    Some(arguments.flatten().map(|(raw, text)| TextAt {
        tool,
        json: true,
        raw,
        text,
    }))
}

/// An Anthropic event, if it is of the plain subset.
pub fn anthropic(data: &str) -> Option<AnthropicEvent<'_>> {
    let mut c = Cursor::new(data);
    let (mut kind, mut index) = (Cow::Borrowed(""), None);
    let (mut delta, mut block) = (None, None);
    let mut seen = Seen::default();
    c.object(|c, key| match key {
        "type" => {
            seen.once(0)?;
            if !c.null() {
                kind = text(c, None, false)?.map(|t| t.text)?;
            }
            Some(())
        }
        "index" => {
            seen.once(1)?;
            index = c.uint()?;
            Some(())
        }
        "delta" => {
            seen.once(2)?;
            delta = typed(c)?;
            Some(())
        }
        "content_block" => {
            seen.once(3)?;
            block = typed(c)?;
            Some(())
        }
        _ => c.skip(1),
    })?;
    c.end()?;
    let text = match kind.as_ref() {
        "content_block_start" => block.and_then(|b: Typed<'_>| {
            let json = b.kind.as_deref().is_some_and(|k| k.ends_with("tool_use"));
            b.text.map(|(raw, text)| TextAt {
                tool: None,
                json,
                raw,
                text,
            })
        }),
        "content_block_delta" => delta.and_then(|d| {
            let (field, json) = match d.kind.as_deref() {
                Some("text_delta") => (d.text, false),
                Some("input_json_delta") => (d.partial_json, true),
                _ => (None, false),
            };
            field.map(|(raw, text)| TextAt {
                tool: None,
                json,
                raw,
                text,
            })
        }),
        _ => None,
    };
    Some(AnthropicEvent {
        kind,
        index: index.unwrap_or(0),
        text,
    })
}

/// An Anthropic content block or delta: each field's string, if it is one.
#[derive(Default)]
struct Typed<'a> {
    kind: Option<Cow<'a, str>>,
    text: Option<(&'a str, Cow<'a, str>)>,
    partial_json: Option<(&'a str, Cow<'a, str>)>,
}

/// `null`, or an object read as `Typed`.
fn typed<'a>(c: &mut Cursor<'a>) -> Option<Option<Typed<'a>>> {
    if c.null() {
        return Some(None);
    }
    let mut t = Typed::default();
    let mut seen = Seen::default();
    c.object(|c, key| match key {
        "type" => {
            seen.once(0)?;
            t.kind = c.text_literal()?.map(|(_, text)| text);
            Some(())
        }
        "text" => {
            seen.once(1)?;
            t.text = c.text_literal()?;
            Some(())
        }
        "partial_json" => {
            seen.once(2)?;
            t.partial_json = c.text_literal()?;
            Some(())
        }
        _ => c.skip(2),
    })?;
    Some(Some(t))
}

/// A string field as an OpenAI text field (`Cursor::text_literal`).
fn text<'a>(c: &mut Cursor<'a>, tool: Option<u64>, json: bool) -> Option<Option<TextAt<'a>>> {
    Some(c.text_literal()?.map(|(raw, text)| TextAt {
        tool,
        json,
        raw,
        text,
    }))
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
