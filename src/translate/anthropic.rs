//! OpenAI Chat Completions <-> Anthropic Messages. (Being written.)
