//! Usage as each provider reports it, read with small targeted serde structs (never a full
//! `serde_json::Value` of the answer), and its mapping onto [`Usage`].
//!
//! The raw counts of each format are kept apart until the end: a stream merges them field
//! by field in the provider's own terms (Gemini's `promptTokenCount` includes the cached
//! part, so subtracting must come after merging), then converts once.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::Usage;
use crate::translate::ApiFormat;

/// A token count that never fails to parse: a non-negative integer is itself; a negative
/// number, a string, a bool, null, an object or an array count as 0 (a float is truncated).
/// One odd field must not lose the rest of the usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Count(pub u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CountVisitor;

        impl<'de> Visitor<'de> for CountVisitor {
            type Value = Count;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a token count")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                Ok(Count(u64::try_from(v).unwrap_or(0)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Count, E> {
                // `as` saturates: 1e300 becomes u64::MAX, NaN becomes 0.
                Ok(Count(if v > 0.0 { v as u64 } else { 0 }))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Count, E> {
                Ok(Count(0))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Count, E> {
                Ok(Count(0))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Count, E> {
                Ok(Count(0))
            }
            fn visit_none<E: de::Error>(self) -> Result<Count, E> {
                Ok(Count(0))
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Count, D2::Error> {
                Count::deserialize(d)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Count, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Count(0))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Count(0))
            }
        }

        d.deserialize_any(CountVisitor)
    }
}

/// Field by field: `theirs` replaces `mine` when it is non-zero.
fn merge_count(mine: &mut Count, theirs: Count) {
    if theirs.0 > 0 {
        *mine = theirs;
    }
}

/// OpenAI `usage`: `prompt_tokens` is the whole prompt, cached part included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub(crate) struct OpenAiCounts {
    pub prompt_tokens: Count,
    pub completion_tokens: Count,
    pub prompt_tokens_details: Option<OpenAiPromptDetails>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub(crate) struct OpenAiPromptDetails {
    pub cached_tokens: Count,
}

impl OpenAiCounts {
    fn cached(&self) -> Count {
        self.prompt_tokens_details
            .map(|d| d.cached_tokens)
            .unwrap_or_default()
    }

    pub fn merge(&mut self, other: &OpenAiCounts) {
        let cached = {
            let mut c = self.cached();
            merge_count(&mut c, other.cached());
            c
        };
        merge_count(&mut self.prompt_tokens, other.prompt_tokens);
        merge_count(&mut self.completion_tokens, other.completion_tokens);
        if cached.0 > 0 {
            self.prompt_tokens_details = Some(OpenAiPromptDetails {
                cached_tokens: cached,
            });
        }
    }

    pub fn usage(&self) -> Usage {
        let cached = self.cached().0;
        Usage {
            input: self.prompt_tokens.0.saturating_sub(cached),
            cached_input: cached,
            output: self.completion_tokens.0,
        }
    }
}

/// Anthropic `usage`: `input_tokens` is the fresh part only; cache writes and reads are
/// reported beside it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub(crate) struct AnthropicCounts {
    pub input_tokens: Count,
    pub cache_creation_input_tokens: Count,
    pub cache_read_input_tokens: Count,
    pub output_tokens: Count,
}

impl AnthropicCounts {
    pub fn merge(&mut self, other: &AnthropicCounts) {
        merge_count(&mut self.input_tokens, other.input_tokens);
        merge_count(
            &mut self.cache_creation_input_tokens,
            other.cache_creation_input_tokens,
        );
        merge_count(
            &mut self.cache_read_input_tokens,
            other.cache_read_input_tokens,
        );
        merge_count(&mut self.output_tokens, other.output_tokens);
    }

    /// Cache writes count as input: they are billed at (at least) the input price.
    pub fn usage(&self) -> Usage {
        Usage {
            input: self
                .input_tokens
                .0
                .saturating_add(self.cache_creation_input_tokens.0),
            cached_input: self.cache_read_input_tokens.0,
            output: self.output_tokens.0,
        }
    }
}

/// Gemini `usageMetadata`: `promptTokenCount` includes `cachedContentTokenCount`; thinking
/// tokens (`thoughtsTokenCount`) are billed as output beside `candidatesTokenCount`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct GeminiCounts {
    pub prompt_token_count: Count,
    pub cached_content_token_count: Count,
    pub candidates_token_count: Count,
    pub thoughts_token_count: Count,
}

impl GeminiCounts {
    pub fn merge(&mut self, other: &GeminiCounts) {
        merge_count(&mut self.prompt_token_count, other.prompt_token_count);
        merge_count(
            &mut self.cached_content_token_count,
            other.cached_content_token_count,
        );
        merge_count(
            &mut self.candidates_token_count,
            other.candidates_token_count,
        );
        merge_count(&mut self.thoughts_token_count, other.thoughts_token_count);
    }

    pub fn usage(&self) -> Usage {
        let cached = self.cached_content_token_count.0;
        Usage {
            input: self.prompt_token_count.0.saturating_sub(cached),
            cached_input: cached,
            output: self
                .candidates_token_count
                .0
                .saturating_add(self.thoughts_token_count.0),
        }
    }
}

/// The only part of a whole OpenAI or Anthropic answer read here.
#[derive(Deserialize)]
struct WithUsage<T> {
    usage: Option<T>,
}

/// The only part of a whole Gemini answer read here.
#[derive(Deserialize)]
struct WithUsageMetadata {
    #[serde(default, rename = "usageMetadata")]
    usage: Option<GeminiCounts>,
}

/// An all-zero usage tells nothing (every real request has prompt tokens): treat it as
/// absent so the caller falls back to an estimate.
fn non_empty(u: Usage) -> Option<Usage> {
    (!u.is_empty()).then_some(u)
}

/// Usage reported in a whole (non-streamed) answer body of `format`, parsed with a targeted
/// serde struct. None when the body is not JSON, has no usage, or reports only zeros.
///
/// A Gemini body may also be a JSON array of responses (`streamGenerateContent` without
/// `alt=sse`): their `usageMetadata` are merged field by field, the last one winning.
pub fn from_answer(format: ApiFormat, body: &[u8]) -> Option<Usage> {
    match format {
        ApiFormat::OpenAi => serde_json::from_slice::<WithUsage<OpenAiCounts>>(body)
            .ok()?
            .usage
            .map(|c| c.usage()),
        ApiFormat::Anthropic => serde_json::from_slice::<WithUsage<AnthropicCounts>>(body)
            .ok()?
            .usage
            .map(|c| c.usage()),
        ApiFormat::Gemini => {
            let first = body.iter().find(|b| !b.is_ascii_whitespace());
            if first == Some(&b'[') {
                let parts: Vec<WithUsageMetadata> = serde_json::from_slice(body).ok()?;
                gemini_merged(parts)
            } else {
                serde_json::from_slice::<WithUsageMetadata>(body)
                    .ok()?
                    .usage
                    .map(|c| c.usage())
            }
        }
    }
    .and_then(non_empty)
}

/// Same as [`from_answer`], from an already parsed answer (still read through the targeted
/// structs, borrowing from `answer`).
pub fn from_value(format: ApiFormat, answer: &serde_json::Value) -> Option<Usage> {
    match format {
        ApiFormat::OpenAi => WithUsage::<OpenAiCounts>::deserialize(answer)
            .ok()?
            .usage
            .map(|c| c.usage()),
        ApiFormat::Anthropic => WithUsage::<AnthropicCounts>::deserialize(answer)
            .ok()?
            .usage
            .map(|c| c.usage()),
        ApiFormat::Gemini => match answer {
            serde_json::Value::Array(items) => gemini_merged(
                items
                    .iter()
                    .filter_map(|v| WithUsageMetadata::deserialize(v).ok())
                    .collect(),
            ),
            _ => WithUsageMetadata::deserialize(answer)
                .ok()?
                .usage
                .map(|c| c.usage()),
        },
    }
    .and_then(non_empty)
}

/// Usage from a whole OpenAI answer's `usage` field as written (`answer_view`): the same as
/// [`from_value`] on the answer it came from.
pub fn from_openai_usage(raw: &str) -> Option<Usage> {
    let counts = match serde_json::from_str::<Option<OpenAiCounts>>(raw) {
        Ok(counts) => counts,
        // A repeated key, which the targeted struct refuses: read as the tree reads it, the
        // last one winning.
        Err(_) => {
            let value: serde_json::Value = serde_json::from_str(raw).ok()?;
            Option::<OpenAiCounts>::deserialize(&value).ok()?
        }
    };
    non_empty(counts?.usage())
}

fn gemini_merged(parts: Vec<WithUsageMetadata>) -> Option<Usage> {
    let mut acc: Option<GeminiCounts> = None;
    for c in parts.into_iter().filter_map(|p| p.usage) {
        acc.get_or_insert_with(GeminiCounts::default).merge(&c);
    }
    acc.map(|c| c.usage())
}
