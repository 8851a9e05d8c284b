//! What the tests of the event readers share: real events to start from, a way to write a
//! reading out so that two readings compare, and random edits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::sse::view::{OpenAiChunk, TextAt};

/// OpenAI chunks as providers send them, and a few as they could.
pub const OPENAI: &[&str] = &[
    r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1795375181,"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1795375181,"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" the quick brown"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"a8Xz"}"#,
    r#"{"choices":[{"delta":{"content":"Line\none \"quoted\" \\ back\/slash \u00e9t\u00e9 \t"},"finish_reason":null,"index":0,"logprobs":null}],"created":1,"id":"c","model":"m","object":"chat.completion.chunk","system_fingerprint":null,"usage":null}"#,
    r#"{"id":"c","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}"#,
    r#"{"id":"c","choices":[{"index":0,"delta":{"content":null},"finish_reason":"length"}]}"#,
    r#"{"id":"c","choices":[{"index":0,"delta":{"refusal":"I can't help with that."},"finish_reason":null}]}"#,
    r#"{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#,
    r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": \"Par"}},{"index":2,"function":{"arguments":"is\"}"}}]},"finish_reason":null}]}"#,
    r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"{}"}}],"content":"after"}}]}"#,
    r#"{"id":"c","choices":[{"index":1,"delta":{"content":"b"}},{"delta":{"content":"c"},"finish_reason":"stop"}]}"#,
    r#"{"id":"c","choices":[{"index":0,"delta":{"content":"x"},"logprobs":{"content":[{"token":"x","logprob":-0.25,"bytes":[120],"top_logprobs":[{"token":"y","logprob":-1.5e-3,"bytes":[121]}]}],"refusal":null},"finish_reason":null}]}"#,
    r#"{"id":"c","choices":[],"usage":{"prompt_tokens":4,"completion_tokens":3,"total_tokens":7}}"#,
    r#" { "choices" : [ { "index" : 0 , "delta" : { "content" : "spaced" } } ] , "x" : [ true , false , null , -0 , 0.5 , 1E+2 ] } "#,
    r#"{"choices":null,"usage":null}"#,
    r#"{}"#,
    r#"{"error":{"message":"overloaded","type":"server_error"}}"#,
];

/// What a reading says, written out so two readings compare.
pub fn texts(texts: &[TextAt<'_>]) -> String {
    texts
        .iter()
        .map(|t| format!("[{:?} {} {} {:?}]", t.tool, t.json, t.raw, t.text))
        .collect()
}

pub fn show_openai(c: &OpenAiChunk<'_>) -> String {
    let choices: String = c
        .choices
        .iter()
        .map(|ch| {
            format!(
                "({} {} {} {:?})",
                ch.index,
                ch.ending,
                texts(&ch.texts),
                ch.refusal
            )
        })
        .collect();
    format!("{choices} usage={:?}", c.usage.map(|u| u.get()))
}

/// A small deterministic generator (xorshift), enough to mutate events.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// `data` with one to three random edits: a cut, or one of `PIECES` inserted or put in
    /// place of a cut.
    pub fn mutate(&mut self, data: &str) -> String {
        let mut data = data.to_string();
        for _ in 0..1 + self.below(3) {
            let bounds: Vec<usize> = (0..=data.len())
                .filter(|&i| data.is_char_boundary(i))
                .collect();
            let a = bounds[self.below(bounds.len())];
            let b = bounds[self.below(bounds.len())].max(a);
            let b = bounds
                .iter()
                .copied()
                .find(|&x| x >= b.min(a + 8))
                .unwrap_or(a);
            match self.below(3) {
                0 => data.replace_range(a..b, ""),
                1 => data.insert_str(a, PIECES[self.below(PIECES.len())]),
                _ => data.replace_range(a..b, PIECES[self.below(PIECES.len())]),
            }
        }
        data
    }
}

/// Pieces that change what JSON means.
pub const PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "\\",
    " ",
    "\n",
    "\t",
    "0",
    "1",
    "9",
    "-",
    ".",
    "e",
    "E",
    "+",
    "null",
    "true",
    "false",
    "\\u0041",
    "\\ud800",
    "\\u00e9",
    "\\n",
    "é",
    "\u{1}",
    "\"content\"",
    "\"index\"",
    "\"choices\"",
    "\"delta\"",
    "\"type\"",
    "\"text\"",
    "\"finish_reason\"",
    "\"tool_calls\"",
    "\"function\"",
    "\"arguments\"",
    "\"usage\"",
    "\"partial_json\"",
    "\"text_delta\"",
    "\"content_block_delta\"",
    "\"refusal\"",
    "1e400",
    "18446744073709551616",
    "\"content_block\"",
    "\"tool_use\"",
    "\"content_block_start\"",
];
