//! Gemini `streamGenerateContent?alt=sse` events (each one `GenerateContentResponse`) ->
//! OpenAI `chat.completion.chunk` events, ending in the optional usage chunk and `[DONE]`.

use serde_json::{json, Value};

use super::{
    answer_id, answer_model, finish_reason, gemini_error_message, prompt_blocked, tool_call, Usage,
    DEFAULT_ID,
};
use crate::sse::SseEvent;
use crate::translate::{StreamTranslator, TranslateError};

fn upstream(msg: impl Into<String>) -> TranslateError {
    TranslateError::Upstream(msg.into())
}

/// The stream translator from Gemini to OpenAI. Only the first candidate is followed; its
/// chunks are choice 0.
pub struct StreamToOpenAi {
    /// The reported model: the routed one until the first event names its `modelVersion`.
    model: String,
    id: String,
    created: u64,
    include_usage: bool,
    /// The role chunk was sent (on the first event).
    started: bool,
    /// Function calls seen so far: the next call's index.
    calls: usize,
    /// A chunk with a `finish_reason` was sent.
    finished: bool,
    usage: Usage,
    /// `[DONE]` or an error event was sent: nothing more is emitted.
    closed: bool,
}

impl StreamToOpenAi {
    /// `model` is reported unless the stream names its `modelVersion`; `include_usage` is
    /// the client's `stream_options.include_usage`.
    pub fn new(model: &str, include_usage: bool) -> Self {
        StreamToOpenAi {
            model: model.to_string(),
            id: DEFAULT_ID.to_string(),
            created: crate::clock::unix_s(),
            include_usage,
            started: false,
            calls: 0,
            finished: false,
            usage: Usage::default(),
            closed: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> SseEvent {
        let mut chunk =
            crate::translate::openai_chunk(&self.id, self.created, &self.model, delta, finish);
        if self.include_usage {
            // As OpenAI does: with include_usage, every chunk but the last has `usage: null`.
            chunk["usage"] = Value::Null;
        }
        SseEvent::data(chunk.to_string())
    }

    fn role_chunk(&self) -> SseEvent {
        self.chunk(json!({"role": "assistant", "content": ""}), None)
    }

    fn translate(&mut self, resp: &Value, out: &mut Vec<SseEvent>) -> Result<(), TranslateError> {
        let candidates = match resp.get("candidates") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(c)) => c.as_slice(),
            Some(_) => return Err(upstream("`candidates` is not an array")),
        };
        let candidate = candidates.first();
        let parts = match candidate
            .and_then(|c| c.get("content"))
            .and_then(|c| c.get("parts"))
        {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(p)) => p.as_slice(),
            Some(_) => return Err(upstream("`content.parts` is not an array")),
        };

        if !self.started {
            self.id = answer_id(resp);
            self.model = answer_model(resp, &self.model);
            self.started = true;
            out.push(self.role_chunk());
        }
        if let Some(meta) = resp.get("usageMetadata") {
            self.usage.merge(meta);
        }

        let mut text = String::new();
        for part in parts {
            if let Some(call) = part.get("functionCall") {
                if !text.is_empty() {
                    out.push(self.chunk(json!({ "content": text }), None));
                    text.clear();
                }
                let mut call = tool_call(call, self.calls)?;
                if let Some(obj) = call.as_object_mut() {
                    obj.insert("index".into(), json!(self.calls));
                }
                self.calls += 1;
                out.push(self.chunk(json!({ "tool_calls": [call] }), None));
            } else if let Some(t) = part.get("text").and_then(Value::as_str) {
                if part.get("thought").and_then(Value::as_bool) != Some(true) {
                    text.push_str(t);
                }
            }
        }
        if !text.is_empty() {
            out.push(self.chunk(json!({ "content": text }), None));
        }

        if self.finished {
            return Ok(());
        }
        let reason = match candidate {
            Some(c) => c
                .get("finishReason")
                .and_then(Value::as_str)
                .map(|r| finish_reason(r, self.calls > 0)),
            None if prompt_blocked(resp) => Some("content_filter"),
            None => None,
        };
        if let Some(reason) = reason {
            self.finished = true;
            out.push(self.chunk(json!({}), Some(reason)));
        }
        Ok(())
    }
}

impl StreamTranslator for StreamToOpenAi {
    fn on_event(
        &mut self,
        event: &SseEvent,
        out: &mut Vec<SseEvent>,
    ) -> Result<(), TranslateError> {
        if self.closed {
            return Ok(());
        }
        let data = event.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        let resp: Value = serde_json::from_str(data)
            .map_err(|e| upstream(format!("a stream event is not JSON: {e}")))?;
        if !resp.is_object() {
            return Err(upstream("a stream event is not a JSON object"));
        }
        if let Some(message) = gemini_error_message(&resp) {
            self.closed = true;
            let error = json!({"error": {
                "message": message, "type": "api_error", "code": null, "param": null,
            }});
            out.push(SseEvent::data(error.to_string()));
            return Ok(());
        }
        // Emit only when the whole event translated: a malformed event adds nothing.
        let mut events = Vec::new();
        self.translate(&resp, &mut events)?;
        out.append(&mut events);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), TranslateError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        // A Gemini stream ends with a candidate that carries its finishReason; one that ends
        // without it was cut short and must not look like a complete answer.
        if !self.finished {
            return Err(TranslateError::Upstream(
                "the stream ended before a finishReason".into(),
            ));
        }
        let usage = self.include_usage.then(|| self.usage.to_openai());
        crate::translate::openai_stream_end(&self.id, self.created, &self.model, usage, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(t: &mut StreamToOpenAi, events: &[Value]) -> Vec<Value> {
        let mut out = Vec::new();
        for e in events {
            t.on_event(&SseEvent::data(e.to_string()), &mut out)
                .unwrap();
        }
        t.finish(&mut out).unwrap();
        out.iter()
            .map(|e| {
                assert_eq!(e.event, None);
                if e.data == "[DONE]" {
                    return json!("[DONE]");
                }
                let mut v: Value = serde_json::from_str(&e.data).unwrap();
                if let Some(obj) = v.as_object_mut() {
                    obj.remove("created");
                }
                v
            })
            .collect()
    }

    fn deltas(out: &[Value]) -> Vec<(Value, Value)> {
        out.iter()
            .filter_map(|c| c["choices"].get(0))
            .map(|c| (c["delta"].clone(), c["finish_reason"].clone()))
            .collect()
    }

    #[test]
    fn text_stream_with_usage() {
        let mut t = StreamToOpenAi::new("gemini-2.5-flash", true);
        let out = run(
            &mut t,
            &[
                json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}],
                    "usageMetadata": {"promptTokenCount": 5, "cachedContentTokenCount": 2},
                    "modelVersion": "gemini-2.5-flash-001", "responseId": "r1"}),
                json!({"candidates": [{"content": {"parts": [{"text": "...", "thought": true}, {"text": "lo"}]},
                    "finishReason": "STOP"}],
                    "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2,
                        "thoughtsTokenCount": 3, "totalTokenCount": 10},
                    "modelVersion": "gemini-2.5-flash-001", "responseId": "r1"}),
            ],
        );
        let head = json!({"id": "r1", "object": "chat.completion.chunk", "model": "gemini-2.5-flash-001", "usage": null});
        for c in &out[..4] {
            for (k, v) in head.as_object().unwrap() {
                assert_eq!(&c[k], v, "{k} in {c}");
            }
            assert_eq!(c["choices"][0]["index"], 0);
            assert_eq!(c["choices"][0]["logprobs"], Value::Null);
        }
        assert_eq!(
            deltas(&out),
            vec![
                (json!({"role": "assistant", "content": ""}), Value::Null),
                (json!({"content": "Hel"}), Value::Null),
                (json!({"content": "lo"}), Value::Null),
                (json!({}), json!("stop")),
            ]
        );
        assert_eq!(
            out[4],
            json!({"id": "r1", "object": "chat.completion.chunk", "model": "gemini-2.5-flash-001",
                "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10,
                "prompt_tokens_details": {"cached_tokens": 2},
                "completion_tokens_details": {"reasoning_tokens": 3}}})
        );
        assert_eq!(out[5], json!("[DONE]"));
        assert_eq!(out.len(), 6);
    }

    #[test]
    fn function_calls_are_whole_tool_call_chunks_and_finish_as_tool_calls() {
        let mut t = StreamToOpenAi::new("gemini-2.5-flash", false);
        let out = run(
            &mut t,
            &[
                json!({"candidates": [{"content": {"parts": [{"text": "Checking."},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]}}]}),
                json!({"candidates": [{"content": {"parts": [
                    {"functionCall": {"name": "get_time", "args": {}}}]}, "finishReason": "STOP"}]}),
            ],
        );
        assert_eq!(out[0]["id"], "chatcmpl-gemini");
        assert_eq!(out[0]["model"], "gemini-2.5-flash");
        assert!(out[0].get("usage").is_none());
        assert_eq!(
            deltas(&out),
            vec![
                (json!({"role": "assistant", "content": ""}), Value::Null),
                (json!({"content": "Checking."}), Value::Null),
                (
                    json!({"tool_calls": [{"index": 0, "id": "call_0", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}),
                    Value::Null
                ),
                (
                    json!({"tool_calls": [{"index": 1, "id": "call_1", "type": "function",
                    "function": {"name": "get_time", "arguments": "{}"}}]}),
                    Value::Null
                ),
                (json!({}), json!("tool_calls")),
            ]
        );
        assert_eq!(out.last(), Some(&json!("[DONE]")));
    }

    #[test]
    fn a_stream_without_finish_reason_is_cut_short_not_complete() {
        let mut t = StreamToOpenAi::new("m", false);
        let mut out = Vec::new();
        let ev = json!({"candidates": [{"content": {"parts": [{"text": "cut"}]}}]});
        t.on_event(&SseEvent::data(ev.to_string()), &mut out)
            .unwrap();
        assert!(matches!(
            t.finish(&mut out),
            Err(TranslateError::Upstream(_))
        ));
        assert!(
            out.iter().all(|e| e.data != "[DONE]"),
            "no end marker for a cut stream"
        );
        // An empty stream is cut short too.
        assert!(StreamToOpenAi::new("m", true)
            .finish(&mut Vec::new())
            .is_err());
    }

    #[test]
    fn finish_reasons_in_streams_and_a_blocked_prompt() {
        let last_reason = |events: &[Value]| {
            let mut t = StreamToOpenAi::new("m", false);
            let out = run(&mut t, events);
            let d = deltas(&out);
            assert_eq!(d.iter().filter(|(_, r)| !r.is_null()).count(), 1, "{out:?}");
            d.last().map(|(_, r)| r.clone()).unwrap()
        };
        assert_eq!(
            last_reason(&[
                json!({"candidates": [{"content": {"parts": [{"text": "a"}]}, "finishReason": "MAX_TOKENS"}]})
            ]),
            "length"
        );
        assert_eq!(
            last_reason(&[json!({"candidates": [{"finishReason": "SAFETY"}]})]),
            "content_filter"
        );
        assert_eq!(
            last_reason(&[
                json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                "usageMetadata": {"promptTokenCount": 3}})
            ]),
            "content_filter"
        );
        // A second finishReason is not a second finish chunk.
        assert_eq!(
            last_reason(&[
                json!({"candidates": [{"content": {"parts": [{"text": "a"}]}, "finishReason": "STOP"}]}),
                json!({"candidates": [{"content": {"parts": [{"text": ""}]}, "finishReason": "STOP"}]}),
            ]),
            "stop"
        );
    }

    #[test]
    fn the_last_usage_wins_field_by_field() {
        let mut t = StreamToOpenAi::new("m", true);
        let out = run(
            &mut t,
            &[
                json!({"candidates": [{"content": {"parts": [{"text": "a"}]}}],
                    "usageMetadata": {"promptTokenCount": 8, "cachedContentTokenCount": 4, "totalTokenCount": 8}}),
                json!({"candidates": [{"content": {"parts": [{"text": "b"}]}, "finishReason": "STOP"}],
                    "usageMetadata": {"promptTokenCount": 0, "candidatesTokenCount": 2, "totalTokenCount": 10}}),
            ],
        );
        let usage = &out[out.len() - 2]["usage"];
        assert_eq!(usage["prompt_tokens"], 8);
        assert_eq!(usage["completion_tokens"], 2);
        assert_eq!(usage["total_tokens"], 10);
        assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 4);
    }

    #[test]
    fn malformed_events_are_upstream_errors() {
        for bad in [
            "{not json",
            "[1,2]",
            r#"{"candidates": 3}"#,
            r#"{"candidates":[{"content":{"parts":[{"functionCall":{}}]}}]}"#,
        ] {
            let mut t = StreamToOpenAi::new("m", false);
            let mut out = Vec::new();
            let r = t.on_event(&SseEvent::data(bad), &mut out);
            assert!(matches!(r, Err(TranslateError::Upstream(_))), "{bad}");
            assert!(out.is_empty(), "{bad}");
        }
    }

    #[test]
    fn an_error_event_is_forwarded_and_ends_the_stream() {
        let mut t = StreamToOpenAi::new("m", true);
        let mut out = Vec::new();
        t.on_event(
            &SseEvent::data(r#"{"candidates":[{"content":{"parts":[{"text":"a"}]}}]}"#),
            &mut out,
        )
        .unwrap();
        let n = out.len();
        t.on_event(
            &SseEvent::data(
                r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#,
            ),
            &mut out,
        )
        .unwrap();
        t.on_event(
            &SseEvent::data(r#"{"candidates":[{"content":{"parts":[{"text":"b"}]}}]}"#),
            &mut out,
        )
        .unwrap();
        t.finish(&mut out).unwrap();
        assert_eq!(out.len(), n + 1);
        let err: Value = serde_json::from_str(&out[n].data).unwrap();
        assert_eq!(
            err,
            json!({"error": {"message": "The model is overloaded.", "type": "api_error", "code": null, "param": null}})
        );
    }

    #[test]
    fn created_and_id_are_fixed_for_the_stream() {
        let mut t = StreamToOpenAi::new("m", false);
        let mut out = Vec::new();
        for (id, reason) in [("first", None), ("second", Some("STOP"))] {
            let ev = json!({"responseId": id, "candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason}]});
            t.on_event(&SseEvent::data(ev.to_string()), &mut out)
                .unwrap();
        }
        t.finish(&mut out).unwrap();
        let chunks: Vec<Value> = out
            .iter()
            .filter(|e| e.data != "[DONE]")
            .map(|e| serde_json::from_str(&e.data).unwrap())
            .collect();
        assert!(chunks
            .iter()
            .all(|c| c["id"] == "first" && c["created"] == chunks[0]["created"]));
    }
}
