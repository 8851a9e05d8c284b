//! OpenAI Chat Completions <-> Google Gemini generateContent. (Being written.)
