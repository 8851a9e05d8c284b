//! The semantic cache: an answer to a question serves a rephrasing of it.
//!
//! On a request that misses the exact cache, `qualify::question` decides whether the
//! request may be answered semantically and gives its question (the last user message) and
//! scope; the question is embedded (with `embedding_model`) and `index` searches the scope's
//! entries for the most similar stored question at or above `threshold`. A hit is replayed
//! like an exact hit; a miss is forwarded, and its answer stored under the question's
//! vector.
//!
//! **Conservative by default.** A wrong hit serves someone an answer to a question they did
//! not ask, which is worse than a miss, so every default errs towards missing:
//! - a high threshold (0.92 cosine similarity);
//! - narrow qualification: short conversations (4 messages), no tools, one choice, low
//!   temperature, text questions of at most 2,000 characters (see `qualify`);
//! - strict scoping: a question is compared only with questions whose request was the same
//!   in everything else (virtual key, format, model, system prompt, earlier turns, every
//!   parameter that changes the answer, embedding model). The scope is a hash of all that,
//!   so entries are never compared across keys, models, prompts or parameters.
//!
//! **Search: exact in small scopes, two-stage in large ones.** In a scope of up to 2,048
//! entries the index compares the query with every entry (one dot product of normalised
//! vectors each): no recall to tune, and the answer is the true best match. That costs one
//! pass over `4 × dim` bytes per entry, about 6 KiB at 1,536 dimensions, at the speed memory
//! delivers them: 2 ms at 10,000 entries, 21 ms at 100,000. Larger scopes are searched in
//! two stages: every entry's 1-bit sign code (192 bytes at 1,536 dimensions) picks the 64
//! nearest candidates by Hamming distance, which are then compared exactly. A hit is still
//! never below `threshold` (its similarity is exact), but the search is approximate: a
//! match can be missed where many entries crowd near the query (see `index`). No build step
//! either way; inserts and removals stay O(dim). Measured (`benches/semantic.rs`, one core,
//! 1,536 dimensions, all entries in one scope, built for x86-64-v2 by `.cargo/config.toml`):
//! 0.11 ms at 1,000 entries (exact), 0.06 ms at 10,000 and 0.53 ms at 100,000 (two-stage),
//! each near-duplicate query among random vectors found. Scoping keeps the searched set small in practice (a
//! scope is one key's one system prompt, conversation prefix and parameter set, so a node's
//! entries are spread over many scopes), the worst case is well below the embedding call
//! that precedes every search and the provider call a hit saves, and up to about 100,000
//! entries per node the whole index fits in memory (about 615 MiB at 1,536 dimensions).

pub mod config;
pub mod index;
pub mod qualify;

pub use config::{problems, SemanticConfig};
pub use index::{
    cosine, normalise, Hit, IndexError, Scope, SharedIndex, VectorIndex, EXACT_UP_TO, RERANK,
};
pub use qualify::{question, Question};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::mock_provider::answers::embed;
    use crate::translate::ApiFormat;
    use bytes::Bytes;
    use serde_json::json;
    use std::time::{Duration, Instant};

    /// The mock provider's embedding (hashed word counts, L2-normalised), wide enough that
    /// these few words do not collide.
    fn embedding(text: &str) -> Vec<f32> {
        embed(text, 1536)
    }

    #[test]
    fn a_paraphrase_is_close_and_another_question_is_far() {
        let a = embedding("How do I reset my password?");
        let b = embedding("How can I reset my password");
        let c = embedding("What is the capital of France?");
        assert!(cosine(&a, &b) > 0.8, "{}", cosine(&a, &b));
        assert!(cosine(&a, &c) < 0.3, "{}", cosine(&a, &c));
    }

    /// The whole path: qualify, embed, store, then a rephrasing finds the answer in its
    /// scope and nowhere else.
    #[test]
    fn a_rephrased_question_hits_within_its_scope_only() {
        let cfg: SemanticConfig =
            serde_yaml::from_str("embedding_model: embed\nthreshold: 0.8").unwrap();
        let body = |key: &str, q: &str| {
            let b = json!({
                "model": "gpt-4o-mini",
                "messages": [{"role": "system", "content": "Support."}, {"role": "user", "content": q}],
                "temperature": 0,
            });
            question(key, ApiFormat::OpenAi, "gpt-4o-mini", None, &b, &cfg).unwrap()
        };
        let index = SharedIndex::new(cfg.max_entries, Duration::from_secs(cfg.ttl_s));
        let now = Instant::now();
        let stored = body("support-bot", "How do I reset my password?");
        index
            .insert(
                stored.scope,
                embedding(&stored.text),
                Bytes::from_static(b"answer"),
                now,
            )
            .unwrap();
        let search = |q: &Question| index.search(&q.scope, &embedding(&q.text), cfg.threshold, now);
        let hit = search(&body("support-bot", "How can I reset my password")).unwrap();
        assert_eq!(hit.payload, Bytes::from_static(b"answer"));
        assert!(hit.similarity >= 0.8 && hit.similarity < 1.0);
        assert!(search(&body("support-bot", "What is the capital of France?")).is_none());
        assert!(search(&body("other-bot", "How can I reset my password")).is_none());
    }
}
