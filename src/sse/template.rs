//! The event template of an OpenAI stream: the chunks of one stream differ, from one to the
//! next, only in their string values (the text, OpenAI's random `obfuscation`). So once a
//! chunk has been read in full (`scan.rs`), its bytes are kept as literal runs with holes where
//! its string values were, together with what the reading found in them. The next chunk is
//! compared with the runs byte for byte and each hole is read as one JSON string; when all
//! fit, the chunk is the same JSON as the kept one apart from those strings, so the full
//! reading would walk the same keys to the same conclusions, and only the texts are taken
//! from the new bytes. When anything differs, the chunk is read in full and becomes the
//! template. The differential tests in `template_tests.rs` hold it to the full reading.
//!
//! Why: reading each chunk's JSON was the largest single part of a streamed answer's own work
//! (`load-tests/RESULTS.md`); comparing runs costs a few `memcmp`s.

use super::scan;
use super::view::{self, Odd, OpenAiChoice, OpenAiChunk, TextAt};
use std::ops::Range;

/// Chunks longer than this are read in full and never kept: a plain delta is a few hundred
/// bytes, and the template lives as long as its stream.
const MAX_TEMPLATE_BYTES: usize = 2048;

/// Chunks with more string values than this are never kept (a plain delta has about eight).
const MAX_HOLES: usize = 16;
// `Kept::escaped` keeps one bit per hole.
const _: () = assert!(MAX_HOLES <= u16::BITS as usize);

/// One stream's template; empty until the first chunk of the plain subset.
///
/// Boxed: it lives in every stream's state, inside the request's futures, whose allocation
/// sizes decide open-stream memory. Inline (72 bytes) it measured 74.9 KiB per open stream,
/// boxed 71.0 (`STREAMS=4000 python3 load-tests/streams.py`; RESULTS.md).
#[derive(Debug, Clone, Default)]
pub struct OpenAiTemplate {
    kept: Option<Box<Kept>>,
}

/// A chunk read in full: its bytes, its string values, and what the reading found.
#[derive(Debug, Clone)]
struct Kept {
    data: String,
    /// Where each string value lies in `data`, in order.
    holes: Vec<Range<usize>>,
    /// Bit `i`: hole `i` holds escapes.
    escaped: u16,
    choices: Vec<ChoiceShape>,
}

#[derive(Debug, Clone)]
struct ChoiceShape {
    index: u64,
    ending: bool,
    texts: Vec<TextShape>,
}

#[derive(Debug, Clone)]
struct TextShape {
    tool: Option<u64>,
    json: bool,
    /// The hole that holds the text.
    hole: usize,
}

impl OpenAiTemplate {
    /// The chunk `data` read strictly, as `view::openai` reads it: from the template when it
    /// fits, else in full (keeping it as the template when it may serve the next chunk).
    pub fn read<'a>(&mut self, data: &'a str) -> Result<OpenAiChunk<'a>, Odd> {
        if let Some(chunk) = self.kept.as_ref().and_then(|k| k.fit(data)) {
            return Ok(chunk);
        }
        match scan::openai_recorded(data) {
            Some((chunk, holes)) => {
                self.kept = Kept::of(data, holes, &chunk).map(Box::new);
                Ok(chunk)
            }
            None => view::openai_serde(data),
        }
    }
}

impl Kept {
    /// `None` for a chunk too long or with too many string values to keep, or when the
    /// reading found something the shape does not keep: a refusal (the view has no place for
    /// its raw text), or a text that is not one of the holes.
    fn of(data: &str, holes: Vec<Range<usize>>, chunk: &OpenAiChunk<'_>) -> Option<Kept> {
        if data.len() > MAX_TEMPLATE_BYTES || holes.len() > MAX_HOLES {
            return None;
        }
        let mut choices = Vec::with_capacity(chunk.choices.len());
        for choice in &chunk.choices {
            if choice.refusal.is_some() {
                return None;
            }
            let mut texts = Vec::with_capacity(choice.texts.len());
            for t in &choice.texts {
                // `raw` borrows from `data`: its offset names its hole.
                let start = (t.raw.as_ptr() as usize).checked_sub(data.as_ptr() as usize)?;
                let hole = holes.iter().position(|h| h.start == start)?;
                texts.push(TextShape {
                    tool: t.tool,
                    json: t.json,
                    hole,
                });
            }
            choices.push(ChoiceShape {
                index: choice.index,
                ending: choice.ending,
                texts,
            });
        }
        let escaped = holes
            .iter()
            .enumerate()
            .filter(|(_, h)| data.get((*h).clone()).is_some_and(|s| s.contains('\\')))
            .fold(0u16, |bits, (i, _)| bits | 1 << i);
        Some(Kept {
            data: data.to_string(),
            holes,
            escaped,
            choices,
        })
    }

    /// `data` read through the template, if it fits.
    fn fit<'a>(&self, data: &'a str) -> Option<OpenAiChunk<'a>> {
        // Where each hole lies in `data`, and whether its string holds escapes.
        let mut found = [(0, 0, false); MAX_HOLES];
        let (mut kept_at, mut at) = (0, 0);
        for (index, (hole, slot)) in self.holes.iter().zip(&mut found).enumerate() {
            let run = self.data.get(kept_at..hole.start)?;
            if !data.get(at..)?.starts_with(run) {
                return None;
            }
            at += run.len();
            // Most values (the id, the model) repeat from chunk to chunk: the same bytes are
            // the same token, so only a value that changed is read.
            let same = self.data.get(hole.clone())?;
            let (end, escaped) = if data.get(at..)?.starts_with(same) {
                (at + same.len(), self.escaped & 1 << index != 0)
            } else {
                crate::plain_json::string_at(data, at)?
            };
            *slot = (at, end, escaped);
            (kept_at, at) = (hole.end, end);
        }
        if data.get(at..)? != self.data.get(kept_at..)? {
            return None;
        }
        let mut choices = Vec::with_capacity(self.choices.len());
        for shape in &self.choices {
            let mut texts = Vec::with_capacity(shape.texts.len());
            for t in &shape.texts {
                let &(start, end, escaped) = found.get(t.hole)?;
                let raw = data.get(start..end)?;
                texts.push(TextAt {
                    tool: t.tool,
                    json: t.json,
                    raw,
                    text: crate::plain_json::decode(raw, escaped)?,
                });
            }
            choices.push(OpenAiChoice {
                index: shape.index,
                ending: shape.ending,
                texts,
                refusal: None,
            });
        }
        Some(OpenAiChunk {
            choices,
            usage: None,
        })
    }
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
