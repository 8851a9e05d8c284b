//! What a stream's consumers read from one OpenAI or Anthropic event, borrowed from the
//! event's data: each text field as its raw JSON string and where it lies, so that the stream
//! redactor can splice a changed text into the original bytes, and (OpenAI) the raw `usage`
//! for usage tracking. Nothing is parsed into a tree or serialised again, and everything else
//! in the event goes out exactly as it came (a tree round trip per event was most of the
//! redacting stream's cost; `load-tests/RESULTS.md`). A passthrough stream with redaction on
//! reads each event once, here, for both redaction and usage (`proxy::body::Tap`).
//!
//! Reading is strict first, in one pass: by `scan.rs` when the event is of the plain subset
//! providers send, else over typed structs by `serde_json`. Any part that is not the
//! expected shape, or a repeated key, fails the whole event. The caller then parses the event
//! once as a tree, writes it back out (repeated keys resolved the way `serde_json` resolves
//! them, last one wins) and reads that copy leniently, part by part, where a part of the
//! wrong shape is simply absent. So odd but valid JSON cannot carry text past the redactor.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::ops::Range;

/// One text field of an event.
pub struct TextAt<'a> {
    /// OpenAI: the tool call's index for `function.arguments`; `None` for `content`.
    pub tool: Option<u64>,
    /// The text is JSON (tool arguments), redacted as the inside of JSON strings.
    pub json: bool,
    /// The field's value as written, quotes included: a part of the event's data.
    pub raw: &'a str,
    /// The decoded text.
    pub text: Cow<'a, str>,
}

/// An OpenAI chunk.
pub struct OpenAiChunk<'a> {
    /// Empty when the chunk has none (an error, the usage-only chunk).
    pub choices: Vec<OpenAiChoice<'a>>,
    /// The `usage` field as written, if present (`null` included).
    pub usage: Option<&'a RawValue>,
}

/// One choice of an OpenAI chunk.
pub struct OpenAiChoice<'a> {
    pub index: u64,
    /// The choice carries a `finish_reason`.
    pub ending: bool,
    /// In the order they appear: `delta.content`, then each tool call's arguments.
    pub texts: Vec<TextAt<'a>>,
    /// `delta.refusal`, decoded (counted as answer text, not redacted).
    pub refusal: Option<Cow<'a, str>>,
}

/// An Anthropic event.
pub struct AnthropicEvent<'a> {
    pub kind: Cow<'a, str>,
    pub index: u64,
    /// `content_block_start`: the block's `text`; `content_block_delta`: a `text_delta`'s
    /// `text` or an `input_json_delta`'s `partial_json`.
    pub text: Option<TextAt<'a>>,
}

/// One event as read for a stream's consumers; `None` when it is not JSON (`[DONE]`).
#[derive(Clone, Copy)]
pub enum Reading<'r, 'a> {
    OpenAi(Option<&'r OpenAiChunk<'a>>),
    Anthropic(Option<&'r AnthropicEvent<'a>>),
}

/// The event is not of the expected shape, or repeats a key (strict reading).
pub struct Odd;

/// The strict reading: one pass, every part typed.
mod typed {
    use super::Typed;
    use serde::Deserialize;
    use serde_json::value::RawValue;
    use std::borrow::Cow;

    #[derive(Deserialize)]
    pub struct Event<'a> {
        #[serde(borrow, rename = "type")]
        pub kind: Option<Cow<'a, str>>,
        pub index: Option<u64>,
        #[serde(borrow)]
        pub delta: Option<Typed<'a>>,
        #[serde(borrow)]
        pub content_block: Option<Typed<'a>>,
    }

    #[derive(Deserialize)]
    pub struct Chunk<'a> {
        #[serde(borrow)]
        pub choices: Option<Vec<Choice<'a>>>,
        #[serde(borrow)]
        pub usage: Option<&'a RawValue>,
    }

    #[derive(Deserialize)]
    pub struct Choice<'a> {
        pub index: Option<u64>,
        #[serde(borrow)]
        pub delta: Option<Delta<'a>>,
        #[serde(borrow)]
        pub finish_reason: Option<&'a RawValue>,
    }

    #[derive(Deserialize)]
    pub struct Delta<'a> {
        #[serde(borrow)]
        pub content: Option<&'a RawValue>,
        #[serde(borrow)]
        pub refusal: Option<&'a RawValue>,
        #[serde(borrow)]
        pub tool_calls: Option<Vec<ToolCall<'a>>>,
    }

    #[derive(Deserialize)]
    pub struct ToolCall<'a> {
        pub index: Option<u64>,
        #[serde(borrow)]
        pub function: Option<Function<'a>>,
    }

    #[derive(Deserialize)]
    pub struct Function<'a> {
        #[serde(borrow)]
        pub arguments: Option<&'a RawValue>,
    }
}

/// The lenient reading: part by part.
#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(borrow)]
    choices: Option<&'a RawValue>,
    #[serde(borrow)]
    usage: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow)]
    index: Option<&'a RawValue>,
    #[serde(borrow)]
    delta: Option<&'a RawValue>,
    #[serde(borrow)]
    finish_reason: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow)]
    content: Option<&'a RawValue>,
    #[serde(borrow)]
    refusal: Option<&'a RawValue>,
    #[serde(borrow)]
    tool_calls: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ToolCall<'a> {
    #[serde(borrow)]
    index: Option<&'a RawValue>,
    #[serde(borrow)]
    function: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Function<'a> {
    #[serde(borrow)]
    arguments: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<&'a RawValue>,
    #[serde(borrow)]
    index: Option<&'a RawValue>,
    #[serde(borrow)]
    delta: Option<&'a RawValue>,
    #[serde(borrow)]
    content_block: Option<&'a RawValue>,
}

/// A content block or an Anthropic delta.
#[derive(Deserialize)]
struct Typed<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<&'a RawValue>,
    #[serde(borrow)]
    text: Option<&'a RawValue>,
    #[serde(borrow)]
    partial_json: Option<&'a RawValue>,
}

/// `raw` read as `T` (lenient reading); `None` when absent or of another shape.
fn part<'a, T: Deserialize<'a>>(raw: Option<&'a RawValue>) -> Option<T> {
    serde_json::from_str(raw?.get()).ok()
}

/// The string `raw` holds, decoded; `None` for any other JSON value.
fn string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let s = raw.get();
    if !s.starts_with('"') {
        return None;
    }
    // A `RawValue` string is already checked; without escapes its text is what the quotes hold.
    if memchr::memchr(b'\\', s.as_bytes()).is_none() {
        return s.get(1..s.len() - 1).map(Cow::Borrowed);
    }
    match serde_json::from_str::<&str>(s) {
        Ok(plain) => Some(Cow::Borrowed(plain)),
        // Escapes: the decoded text is a new string. `serde_json` refuses an unpaired
        // surrogate escape (`"\ud800"`) that JavaScript and Python clients accept: without a
        // text, such a field would pass unread, so it is read with the surrogate as U+FFFD.
        Err(_) => serde_json::from_str::<String>(s)
            .ok()
            .or_else(|| decode_lossy(s))
            .map(Cow::Owned),
    }
}

/// The JSON string literal `raw` decoded, each unpaired surrogate escape read as U+FFFD;
/// `None` when `raw` is not a well-formed literal.
fn decode_lossy(raw: &str) -> Option<String> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    // A run of `\u` escapes, decoded together so that a surrogate pair makes one character.
    let mut units: Vec<u16> = Vec::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            flush_units(&mut units, &mut out);
            out.push(c);
            continue;
        }
        let simple = match chars.next()? {
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                units.push(
                    u16::from_str_radix(&hex, 16)
                        .ok()
                        .filter(|_| hex.len() == 4)?,
                );
                continue;
            }
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            _ => return None,
        };
        flush_units(&mut units, &mut out);
        out.push(simple);
    }
    flush_units(&mut units, &mut out);
    Some(out)
}

fn flush_units(units: &mut Vec<u16>, out: &mut String) {
    out.extend(
        char::decode_utf16(units.drain(..)).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)),
    );
}

fn uint(raw: Option<&RawValue>) -> Option<u64> {
    raw.and_then(|r| r.get().parse().ok())
}

fn text_at<'a>(raw: Option<&'a RawValue>, tool: Option<u64>, json: bool) -> Option<TextAt<'a>> {
    let raw = raw?;
    Some(TextAt {
        tool,
        json,
        raw: raw.get(),
        text: string(raw)?,
    })
}

/// An OpenAI chunk, its choices with their texts, read strictly: by the fast reading when
/// the chunk is of its plain subset (`scan.rs`), else by `serde_json`.
pub fn openai(data: &str) -> Result<OpenAiChunk<'_>, Odd> {
    match super::scan::openai(data) {
        Some(chunk) => Ok(chunk),
        None => openai_serde(data),
    }
}

/// `openai` by `serde_json` alone.
pub(super) fn openai_serde(data: &str) -> Result<OpenAiChunk<'_>, Odd> {
    let chunk: typed::Chunk = serde_json::from_str(data).map_err(|_| Odd)?;
    let mut choices = Vec::new();
    for (pos, choice) in chunk.choices.unwrap_or_default().into_iter().enumerate() {
        let mut texts = Vec::new();
        let mut refusal = None;
        if let Some(delta) = choice.delta {
            texts.extend(text_at(delta.content, None, false));
            refusal = delta.refusal.and_then(string);
            for (tpos, call) in delta.tool_calls.unwrap_or_default().into_iter().enumerate() {
                let tool = call.index.unwrap_or(tpos as u64);
                let arguments = call.function.and_then(|f| f.arguments);
                texts.extend(text_at(arguments, Some(tool), true));
            }
        }
        choices.push(OpenAiChoice {
            index: choice.index.unwrap_or(pos as u64),
            ending: choice.finish_reason.is_some(),
            texts,
            refusal,
        });
    }
    Ok(OpenAiChunk {
        choices,
        usage: chunk.usage,
    })
}

/// As `openai`, read leniently: a part of another shape is skipped.
fn openai_lenient(data: &str) -> OpenAiChunk<'_> {
    let Ok(chunk) = serde_json::from_str::<Chunk>(data) else {
        return OpenAiChunk {
            choices: Vec::new(),
            usage: None,
        };
    };
    let raws: Vec<&RawValue> = part(chunk.choices).unwrap_or_default();
    let mut choices = Vec::with_capacity(raws.len());
    for (pos, raw) in raws.into_iter().enumerate() {
        let Some(choice) = part::<Choice>(Some(raw)) else {
            continue;
        };
        let mut texts = Vec::new();
        let mut refusal = None;
        if let Some(delta) = part::<Delta>(choice.delta) {
            texts.extend(text_at(delta.content, None, false));
            refusal = delta.refusal.and_then(string);
            let calls: Vec<&RawValue> = part(delta.tool_calls).unwrap_or_default();
            for (tpos, call) in calls.into_iter().enumerate() {
                let Some(call) = part::<ToolCall>(Some(call)) else {
                    continue;
                };
                let tool = uint(call.index).unwrap_or(tpos as u64);
                if let Some(function) = part::<Function>(call.function) {
                    texts.extend(text_at(function.arguments, Some(tool), true));
                }
            }
        }
        choices.push(OpenAiChoice {
            index: uint(choice.index).unwrap_or(pos as u64),
            ending: choice.finish_reason.is_some(),
            texts,
            refusal,
        });
    }
    OpenAiChunk {
        choices,
        usage: chunk.usage,
    }
}

/// Reads the OpenAI event `data` strictly or, when that fails, as `reread_openai` does, and
/// hands `f` the text read and what it holds. The view borrows from the text `f` gets.
pub fn read_openai<R>(data: &str, f: impl FnOnce(&str, Option<&OpenAiChunk<'_>>) -> R) -> R {
    match openai(data) {
        Ok(chunk) => f(data, Some(&chunk)),
        Err(Odd) => reread_openai(data, f),
    }
}

/// For an OpenAI event the strict reading refused: hands `f` its canonical form (see the
/// module's notes) and that copy read leniently, or `data` itself and `None` when it is not
/// JSON (`[DONE]`). So `Some` always means the canonical copy.
pub fn reread_openai<R>(data: &str, f: impl FnOnce(&str, Option<&OpenAiChunk<'_>>) -> R) -> R {
    match canonical(data) {
        Some(canonical) => f(&canonical, Some(&openai_lenient(&canonical))),
        None => f(data, None),
    }
}

/// As `read_openai`, for an Anthropic event.
pub fn read_anthropic<R>(data: &str, f: impl FnOnce(&str, Option<&AnthropicEvent<'_>>) -> R) -> R {
    match anthropic(data) {
        Ok(event) => f(data, Some(&event)),
        Err(Odd) => reread_anthropic(data, f),
    }
}

/// As `reread_openai`, for an Anthropic event (`None` also when the copy is not an object).
pub fn reread_anthropic<R>(
    data: &str,
    f: impl FnOnce(&str, Option<&AnthropicEvent<'_>>) -> R,
) -> R {
    match canonical(data) {
        Some(canonical) => f(&canonical, anthropic_lenient(&canonical).as_ref()),
        None => f(data, None),
    }
}

/// `data` parsed as a tree and written back (repeated keys resolved, last one wins); `None`
/// when it is not JSON.
fn canonical(data: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(data)
        .ok()
        .map(|v| v.to_string())
}

/// An Anthropic event, read strictly (as `openai`: fast when it can be).
pub fn anthropic(data: &str) -> Result<AnthropicEvent<'_>, Odd> {
    match super::scan::anthropic(data) {
        Some(event) => Ok(event),
        None => anthropic_serde(data),
    }
}

/// `anthropic` by `serde_json` alone.
pub(super) fn anthropic_serde(data: &str) -> Result<AnthropicEvent<'_>, Odd> {
    let event: typed::Event = serde_json::from_str(data).map_err(|_| Odd)?;
    let kind = event.kind.unwrap_or_default();
    let text = anthropic_text(&kind, event.content_block, event.delta);
    Ok(AnthropicEvent {
        kind,
        index: event.index.unwrap_or(0),
        text,
    })
}

/// As `anthropic`, read leniently; `None` when the event is not an object.
fn anthropic_lenient(data: &str) -> Option<AnthropicEvent<'_>> {
    let event = serde_json::from_str::<Event>(data).ok()?;
    let kind = event.kind.and_then(string).unwrap_or_default();
    let (block, delta) = match kind.as_ref() {
        "content_block_start" => (part::<Typed>(event.content_block), None),
        "content_block_delta" => (None, part::<Typed>(event.delta)),
        _ => (None, None),
    };
    let text = anthropic_text(&kind, block, delta);
    Some(AnthropicEvent {
        kind,
        index: uint(event.index).unwrap_or(0),
        text,
    })
}

/// The text an Anthropic event of `kind` carries in its block or delta.
fn anthropic_text<'a>(
    kind: &str,
    block: Option<Typed<'a>>,
    delta: Option<Typed<'a>>,
) -> Option<TextAt<'a>> {
    match kind {
        "content_block_start" => block.and_then(|block| {
            let json = block
                .kind
                .and_then(string)
                .is_some_and(|t| t.ends_with("tool_use"));
            text_at(block.text, None, json)
        }),
        "content_block_delta" => {
            delta.and_then(|delta| match delta.kind.and_then(string).as_deref() {
                Some("text_delta") => text_at(delta.text, None, false),
                Some("input_json_delta") => text_at(delta.partial_json, None, true),
                _ => None,
            })
        }
        _ => None,
    }
}

/// Replacements of text fields in one event's data, applied in one pass.
#[derive(Default)]
pub struct Splice {
    edits: Vec<(Range<usize>, String)>,
}

impl Splice {
    /// Replace the field `raw` (borrowed from `data`) with the JSON string of `text`.
    pub fn set(&mut self, data: &str, raw: &str, text: &str) {
        let start = (raw.as_ptr() as usize).checked_sub(data.as_ptr() as usize);
        let Some(span) = start
            .map(|s| s..s + raw.len())
            .filter(|r| r.end <= data.len())
        else {
            // Not a part of `data` (a caller's mistake): nothing to replace.
            return;
        };
        let quoted = serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_string());
        self.edits.push((span, quoted));
    }

    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    /// `data` with every replacement made.
    pub fn apply(mut self, data: &str) -> String {
        self.edits.sort_by_key(|(r, _)| r.start);
        let mut out = String::with_capacity(data.len() + 16);
        let mut at = 0;
        for (span, text) in &self.edits {
            out.push_str(data.get(at..span.start).unwrap_or_default());
            out.push_str(text);
            at = span.end;
        }
        out.push_str(data.get(at..).unwrap_or_default());
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::{decode_lossy, string};
    use serde_json::value::RawValue;

    fn read(literal: &str) -> Option<String> {
        let raw: &RawValue = serde_json::from_str(literal).unwrap();
        string(raw).map(|t| t.into_owned())
    }

    #[test]
    fn strings_decode_as_serde_json_decodes_them() {
        for literal in [
            r#""plain""#,
            r#""""#,
            r#""a\"b\\c\/d\b\f\n\r\t""#,
            r#""\u00e9t\u00c9 \ud83d\ude00 é""#,
        ] {
            let expected: String = serde_json::from_str(literal).unwrap();
            assert_eq!(
                read(literal).as_deref(),
                Some(expected.as_str()),
                "{literal}"
            );
            assert_eq!(decode_lossy(literal), Some(expected), "{literal}");
        }
        assert_eq!(read("12"), None);
    }

    #[test]
    fn an_unpaired_surrogate_escape_reads_as_a_replacement_character() {
        assert_eq!(
            read(r#""\ud800 mail jane@corp.com""#).as_deref(),
            Some("\u{fffd} mail jane@corp.com")
        );
        assert_eq!(
            read(r#""a\udc00\ud800""#).as_deref(),
            Some("a\u{fffd}\u{fffd}")
        );
        assert_eq!(
            read(r#""\ud83d\ude00\ud800x""#).as_deref(),
            Some("😀\u{fffd}x")
        );
        assert_eq!(decode_lossy(r#""bad \x""#), None);
        assert_eq!(decode_lossy(r#""\u12""#), None);
    }
}
