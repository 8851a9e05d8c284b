//! Per-request placeholders: `[EMAIL_1]`, `[EMAIL_2]`, ... handed out by the request-side
//! `placeholder` action, numbered per entity in order of first appearance, the same value
//! always getting the same placeholder within a request. The caller keeps one `Placeholders`
//! per request and uses it to put the originals back into the answer (`restore`, or the
//! streaming `PlaceholderRestorer`).

use std::borrow::Cow;
use std::collections::HashMap;

#[derive(Debug, Clone, Default)]
pub struct Placeholders {
    /// (placeholder, original), in order of assignment.
    entries: Vec<(String, String)>,
    /// (tag, original) -> index in `entries`.
    by_value: HashMap<(String, String), usize>,
    /// placeholder -> index in `entries`.
    by_placeholder: HashMap<String, usize>,
    /// The last number given per tag.
    numbers: HashMap<String, u32>,
    /// The longest placeholder, in bytes.
    longest: usize,
}

impl Placeholders {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// (placeholder, original) pairs in order of assignment.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(p, o)| (p.as_str(), o.as_str()))
    }

    /// The placeholder for `value` of the entity named `tag` (`EMAIL`), assigning the next
    /// number when the value is new.
    pub fn assign(&mut self, tag: &str, value: &str) -> &str {
        let key = (tag.to_string(), value.to_string());
        let index = match self.by_value.get(&key) {
            Some(&i) => i,
            None => {
                let n = self.numbers.entry(tag.to_string()).or_insert(0);
                *n += 1;
                let placeholder = format!("[{tag}_{n}]");
                let i = self.entries.len();
                self.longest = self.longest.max(placeholder.len());
                self.by_placeholder.insert(placeholder.clone(), i);
                self.entries.push((placeholder, value.to_string()));
                self.by_value.insert(key, i);
                i
            }
        };
        self.entries.get(index).map_or("", |(p, _)| p.as_str())
    }

    /// The original behind `placeholder`, if it is one of ours.
    pub fn original(&self, placeholder: &str) -> Option<&str> {
        let i = *self.by_placeholder.get(placeholder)?;
        self.entries.get(i).map(|(_, o)| o.as_str())
    }

    /// `text` with every placeholder of ours replaced by its original. Borrowed when there
    /// is none.
    pub fn restore<'t>(&self, text: &'t str) -> Cow<'t, str> {
        self.restore_mode(text, false)
    }

    /// As `restore`, for text that is the inside of a JSON string (streamed tool-call
    /// arguments): originals are written JSON-escaped.
    pub fn restore_json<'t>(&self, text: &'t str) -> Cow<'t, str> {
        self.restore_mode(text, true)
    }

    fn restore_mode<'t>(&self, text: &'t str, json: bool) -> Cow<'t, str> {
        if self.entries.is_empty() || !text.contains('[') {
            return Cow::Borrowed(text);
        }
        let mut out = String::new();
        let mut copied = 0;
        let mut at = 0;
        while let Some(open) = text.get(at..).and_then(|t| t.find('[')).map(|i| at + i) {
            let window = text
                .get(open..)
                .unwrap_or_default()
                .char_indices()
                .take_while(|(i, _)| *i < self.longest)
                .find(|(_, c)| *c == ']');
            let Some((close, _)) = window else {
                at = open + 1;
                continue;
            };
            let candidate = text.get(open..=open + close).unwrap_or_default();
            match self.original(candidate) {
                Some(original) => {
                    out.push_str(text.get(copied..open).unwrap_or_default());
                    if json {
                        push_json_escaped(original, &mut out);
                    } else {
                        out.push_str(original);
                    }
                    copied = open + close + 1;
                    at = copied;
                }
                None => at = open + 1,
            }
        }
        if copied == 0 {
            return Cow::Borrowed(text);
        }
        out.push_str(text.get(copied..).unwrap_or_default());
        Cow::Owned(out)
    }

    /// Whether `suffix` (starting with `[`) could still grow into one of our placeholders.
    pub(crate) fn could_begin(&self, suffix: &str) -> bool {
        suffix.len() < self.longest
            && self
                .by_placeholder
                .keys()
                .any(|p| p.len() > suffix.len() && p.starts_with(suffix))
    }
}

/// `s` as the inside of a JSON string literal.
pub(crate) fn push_json_escaped(s: &str, out: &mut String) {
    let quoted = serde_json::Value::String(s.to_string()).to_string();
    let inner = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default();
    out.push_str(inner);
}
