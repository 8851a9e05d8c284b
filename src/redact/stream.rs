//! Redaction of text that arrives in pieces (one text channel of a streamed answer), and the
//! restoring of placeholders in such text.
//!
//! # The guarantee
//!
//! For any text and any way of cutting it into pieces, the concatenation of everything
//! `StreamRedactor` emits equals `CompiledPolicy::redact` of the whole text, and no emitted
//! prefix holds a byte of a match that a later piece completes, for every match of at most
//! `max_span` characters (longer ones may be emitted partly in clear).
//!
//! # How much is held back
//!
//! The redactor keeps the text not yet emitted, plus one character before it (a word boundary
//! looks one character back). After each piece it finds the cut `c` up to which the result is
//! final, emits that part redacted, and keeps the rest:
//!
//! 1. `floor` = `max_span` characters before the end. A match starting before it is at most
//!    `max_span` long, so it ends before the last character, which is known: it cannot change.
//! 2. From `floor` on, each pattern's shape (`shape::Shape::reach`) gives the earliest
//!    position where one of its matches could still be in progress: a suffix made only of
//!    characters its matches may contain, no longer than its longest match, starting with its
//!    literal prefix if it has one. A match ending exactly at the end is in progress too
//!    (`a@b.co` may become `a@b.com`). `c` = the earliest such position over all patterns:
//!    usually the start of the last word, often the end itself.
//! 3. Candidates that overlap are resolved together (`detect::select`), so `c` must not fall
//!    inside a group of overlapping candidates: if it does, `c` moves back to the group's
//!    start. Everything before `c` then depends only on text already seen.
//! 4. So the hold is at most `max_span` characters, plus a match straddling that boundary;
//!    it is capped at `2 * max_span` (past that, matches are longer than `max_span` and the
//!    guarantee does not cover them: the cut is forced, never through a chosen match).
//!
//! Each piece re-scans only the held text plus the piece. `finish` emits the rest.
//!
//! `push_many` takes several pieces that arrived together (one burst of a stream) as one: the
//! text is held back only at the end of the last, and each piece gets the part of the
//! released text that came from it, so a piece whose text is already final goes out as it
//! came.

use super::counts::Counts;
use super::detect::{select, Candidate};
use super::placeholders::Placeholders;
use super::policy::{Blocked, CompiledPolicy, Direction};
use std::sync::Arc;

/// Incremental redaction of one text channel.
pub struct StreamRedactor {
    policy: Arc<CompiledPolicy>,
    dir: Direction,
    max_span: usize,
    json: bool,
    /// `buf[..ctx]` is context already emitted; `buf[ctx..]` is held.
    buf: String,
    ctx: usize,
    /// Bytes of the original text emitted so far.
    emitted: usize,
    placeholders: Placeholders,
    counts: Counts,
    cands: Vec<Candidate>,
    chosen: Vec<Candidate>,
    /// Where each piece of the current push ends in `buf`.
    ends: Vec<usize>,
}

impl StreamRedactor {
    /// A redactor applying `policy` in direction `dir` (an answer: `Response`), guaranteeing
    /// matches of up to `max_span` characters (at least 1).
    pub fn new(policy: Arc<CompiledPolicy>, dir: Direction, max_span: usize) -> Self {
        StreamRedactor {
            policy,
            dir,
            max_span: max_span.max(1),
            json: false,
            buf: String::new(),
            ctx: 0,
            emitted: 0,
            placeholders: Placeholders::default(),
            counts: Counts::default(),
            cands: Vec::new(),
            chosen: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// The channel carries the inside of a JSON string (streamed tool-call arguments): no
    /// match starts inside an escape sequence.
    pub fn json(mut self, json: bool) -> Self {
        self.json = json;
        self
    }

    /// What was redacted so far (emitted matches only).
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Placeholders assigned so far (only a request-side policy assigns any).
    pub fn placeholders(&self) -> &Placeholders {
        &self.placeholders
    }

    /// Bytes of the original text accounted for by what was emitted so far.
    pub fn emitted_bytes(&self) -> usize {
        self.emitted
    }

    /// Characters held back now.
    pub fn held_chars(&self) -> usize {
        self.buf.get(self.ctx..).map_or(0, |t| t.chars().count())
    }

    /// Takes the next piece; appends to `out` whatever can no longer change. `Err`: a `block`
    /// match became final (nothing of this piece is emitted).
    pub fn push(&mut self, piece: &str, out: &mut String) -> Result<(), Blocked> {
        let start = out.len();
        let r = self.push_pieces(&[piece], out, None);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    /// Takes consecutive pieces together, as one piece, and appends to `out` what each
    /// releases, pushing to `ends` where its part of `out` ends (one entry per piece). What
    /// was held from earlier calls goes out with the first piece; a replaced match goes out
    /// with the piece it starts in. `Err`: a `block` match became final; nothing of these
    /// pieces may be emitted (`out` and `ends` then hold a part: discard them).
    pub fn push_many(
        &mut self,
        pieces: &[&str],
        out: &mut String,
        ends: &mut Vec<usize>,
    ) -> Result<(), Blocked> {
        self.push_pieces(pieces, out, Some(ends))
    }

    /// `push_many`, with `ends` only when the caller wants them.
    fn push_pieces(
        &mut self,
        pieces: &[&str],
        out: &mut String,
        mut ends: Option<&mut Vec<usize>>,
    ) -> Result<(), Blocked> {
        if pieces.is_empty() {
            return Ok(());
        }
        if !self.policy.is_active(self.dir) {
            for piece in pieces {
                out.push_str(piece);
                self.emitted += piece.len();
                if let Some(ends) = ends.as_deref_mut() {
                    ends.push(out.len());
                }
            }
            return Ok(());
        }
        self.ends.clear();
        for piece in pieces {
            self.buf.push_str(piece);
            self.ends.push(self.buf.len());
        }
        self.release(out, ends, false)
    }

    /// The text ended: emits everything held.
    pub fn finish(&mut self, out: &mut String) -> Result<(), Blocked> {
        if self.buf.len() > self.ctx {
            self.ends.clear();
            self.ends.push(self.buf.len());
            self.release(out, None, true)?;
        }
        self.buf.clear();
        self.ctx = 0;
        Ok(())
    }

    /// Emits the part of `buf` that can no longer change, split at the pieces' `self.ends`.
    /// With `ends`, pushes where each piece's part of `out` ends.
    fn release(
        &mut self,
        out: &mut String,
        mut ends: Option<&mut Vec<usize>>,
        finish: bool,
    ) -> Result<(), Blocked> {
        let n = self.buf.len();
        let floor = if finish {
            n
        } else {
            back_chars(&self.buf, self.ctx, self.max_span)
        };
        let mut cut = if finish {
            n
        } else {
            self.policy.reach(self.dir, &self.buf, floor)
        };
        if cut <= self.ctx {
            if let Some(ends) = ends {
                ends.extend(self.ends.iter().map(|_| out.len()));
            }
            return Ok(());
        }
        self.cands.clear();
        self.policy
            .candidates(self.dir, &self.buf, self.ctx, self.json, &mut self.cands);
        if !finish {
            cut = outside_groups(&mut self.cands, cut);
            let cap = back_chars(&self.buf, self.ctx, 2 * self.max_span);
            if cut < cap {
                cut = cap;
            }
        }
        select(&mut self.cands, &mut self.chosen);
        // Never cut through a chosen match (only a forced cut could).
        if let Some(m) = self.chosen.iter().find(|m| m.start < cut && cut < m.end) {
            cut = m.end;
        }
        if cut <= self.ctx {
            if let Some(ends) = ends {
                ends.extend(self.ends.iter().map(|_| out.len()));
            }
            return Ok(());
        }
        self.policy
            .check_block(self.dir, self.ctx..cut, &self.chosen, &mut self.counts)?;
        // Piece by piece: each boundary moves to the end of a chosen match it falls inside,
        // and none goes past the cut (no chosen match crosses the cut).
        let mut at = self.ctx;
        for (i, &end) in self.ends.iter().enumerate() {
            let mut end = if i + 1 == self.ends.len() {
                cut
            } else {
                end.min(cut)
            };
            if let Some(m) = self.chosen.iter().find(|m| m.start < end && end < m.end) {
                end = m.end;
            }
            let end = end.min(cut).max(at);
            self.policy.render(
                self.dir,
                &self.buf,
                at..end,
                &self.chosen,
                &mut self.placeholders,
                &mut self.counts,
                out,
            )?;
            if let Some(ends) = ends.as_deref_mut() {
                ends.push(out.len());
            }
            at = end;
        }
        self.emitted += cut - self.ctx;
        // Keep one character of context before the cut.
        let keep_from = self
            .buf
            .get(..cut)
            .and_then(|t| t.char_indices().next_back())
            .map_or(cut, |(i, _)| i);
        self.buf.drain(..keep_from);
        self.ctx = cut - keep_from;
        Ok(())
    }
}

/// The char boundary `k` characters before the end of `s`, not before `low`.
fn back_chars(s: &str, low: usize, k: usize) -> usize {
    let tail = s.get(low..).unwrap_or_default();
    if k == 0 {
        return s.len();
    }
    tail.char_indices()
        .rev()
        .nth(k - 1)
        .map_or(low, |(i, _)| low + i)
}

/// `cut`, or the start of the group of overlapping candidates (by their raw extent) that
/// `cut` falls strictly inside.
fn outside_groups(cands: &mut [Candidate], cut: usize) -> usize {
    cands.sort_unstable_by_key(|c| c.raw_start);
    let mut group: Option<(usize, usize)> = None;
    for c in cands.iter() {
        let (lo, hi) = (c.raw_start.min(c.start), c.raw_end.max(c.end));
        group = match group {
            Some((glo, ghi)) if lo < ghi => Some((glo, ghi.max(hi))),
            Some((glo, ghi)) => {
                if glo < cut && cut < ghi {
                    return glo;
                }
                Some((lo, hi))
            }
            None => Some((lo, hi)),
        };
    }
    match group {
        Some((glo, ghi)) if glo < cut && cut < ghi => glo,
        _ => cut,
    }
}

/// Restores placeholders in text that arrives in pieces, holding back only a suffix that
/// could still become a placeholder (`[EMAIL_` waiting for `1]`).
pub struct PlaceholderRestorer {
    placeholders: Arc<Placeholders>,
    json: bool,
    held: String,
}

impl PlaceholderRestorer {
    pub fn new(placeholders: Arc<Placeholders>) -> Self {
        PlaceholderRestorer {
            placeholders,
            json: false,
            held: String::new(),
        }
    }

    /// The text is the inside of a JSON string: originals are written JSON-escaped.
    pub fn json(mut self, json: bool) -> Self {
        self.json = json;
        self
    }

    pub fn push(&mut self, piece: &str, out: &mut String) {
        if self.placeholders.is_empty() {
            out.push_str(piece);
            return;
        }
        self.held.push_str(piece);
        let keep = match self.held.rfind('[') {
            Some(i)
                if self
                    .placeholders
                    .could_begin(self.held.get(i..).unwrap_or_default()) =>
            {
                i
            }
            _ => self.held.len(),
        };
        let ready = self.held.get(..keep).unwrap_or_default();
        out.push_str(&self.restore(ready));
        self.held.drain(..keep);
    }

    pub fn finish(&mut self, out: &mut String) {
        let held = std::mem::take(&mut self.held);
        out.push_str(&self.restore(&held));
    }

    fn restore<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        if self.json {
            self.placeholders.restore_json(text)
        } else {
            self.placeholders.restore(text)
        }
    }
}
