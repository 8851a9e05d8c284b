//! Streams: Anthropic stream events <-> OpenAI chat.completion.chunk events, as state machines.

use serde_json::{json, Value};

use super::{
    finish_reason_from_stop, message_id, model_at, stop_reason_from_finish, str_at, Usage,
};
use crate::sse::SseEvent;
use crate::translate::{StreamTranslator, TranslateError};

fn parse(event: &SseEvent, what: &str) -> Result<Value, TranslateError> {
    serde_json::from_str(&event.data)
        .map_err(|e| TranslateError::Upstream(format!("{what} stream event is not JSON: {e}")))
}

// ---------------------------------------------------------------------------------------
// Anthropic -> OpenAI
// ---------------------------------------------------------------------------------------

/// Anthropic stream events -> OpenAI chunk events.
pub struct StreamToOpenAi {
    model: String,
    include_usage: bool,
    id: String,
    created: u64,
    usage: Usage,
    /// (Anthropic block index, OpenAI tool call index) of each tool_use block seen.
    tool_blocks: Vec<(u64, usize)>,
    /// Blocks with no OpenAI counterpart (server tool use, thinking...): their deltas, JSON
    /// input included, are dropped rather than taken for a malformed stream.
    silent_blocks: Vec<u64>,
    finish_sent: bool,
    /// `[DONE]` or an error was emitted: nothing more is.
    done: bool,
}

impl StreamToOpenAi {
    pub fn new(model: &str, include_usage: bool) -> Self {
        let created = crate::clock::unix_s();
        StreamToOpenAi {
            model: model.to_string(),
            include_usage,
            id: format!("chatcmpl-tollgate-{created}"),
            created,
            usage: Usage::default(),
            tool_blocks: Vec::new(),
            silent_blocks: Vec::new(),
            finish_sent: false,
            done: false,
        }
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> SseEvent {
        let chunk = crate::translate::openai_chunk(
            &self.id,
            self.created,
            &self.model,
            delta,
            finish_reason,
        );
        SseEvent::data(chunk.to_string())
    }

    fn close(&mut self, out: &mut Vec<SseEvent>) {
        if !self.finish_sent {
            // The stream ended without a message_delta: report a plain stop.
            out.push(self.chunk(json!({}), Some("stop")));
            self.finish_sent = true;
        }
        let usage = self.include_usage.then(|| self.usage.to_openai());
        crate::translate::openai_stream_end(&self.id, self.created, &self.model, usage, out);
        self.done = true;
    }

    fn block_index(data: &Value) -> Result<u64, TranslateError> {
        data.get("index").and_then(Value::as_u64).ok_or_else(|| {
            TranslateError::Upstream("a content block event has no index".to_string())
        })
    }
}

impl StreamTranslator for StreamToOpenAi {
    fn on_event(
        &mut self,
        event: &SseEvent,
        out: &mut Vec<SseEvent>,
    ) -> Result<(), TranslateError> {
        if self.done {
            return Ok(());
        }
        let data = parse(event, "an Anthropic")?;
        let kind = str_at(&data, "type")
            .or(event.event.as_deref())
            .unwrap_or("");
        match kind {
            "message_start" => {
                let msg = data.get("message");
                if let Some(id) = msg.and_then(|m| str_at(m, "id")) {
                    self.id = id.to_string();
                }
                if let Some(model) = msg.and_then(model_at) {
                    self.model = model.to_string();
                }
                self.usage
                    .merge(Usage::from_anthropic(msg.and_then(|m| m.get("usage"))));
                out.push(self.chunk(json!({"role": "assistant", "content": ""}), None));
            }
            "content_block_start" => {
                let index = Self::block_index(&data)?;
                let block = data.get("content_block");
                match block.and_then(|b| str_at(b, "type")) {
                    Some("text") => {
                        let text = block.and_then(|b| str_at(b, "text")).unwrap_or("");
                        if !text.is_empty() {
                            out.push(self.chunk(json!({"content": text}), None));
                        }
                    }
                    Some("tool_use") => {
                        let k = self.tool_blocks.len();
                        self.tool_blocks.push((index, k));
                        let id = block.and_then(|b| str_at(b, "id")).unwrap_or("");
                        let name = block.and_then(|b| str_at(b, "name")).unwrap_or("");
                        // The input arrives as input_json_delta; a non-empty start input is
                        // sent as the first fragment.
                        let arguments = match block.and_then(|b| b.get("input")) {
                            Some(Value::Object(m)) if !m.is_empty() => {
                                Value::Object(m.clone()).to_string()
                            }
                            _ => String::new(),
                        };
                        out.push(self.chunk(
                            json!({"tool_calls": [{
                                "index": k, "id": id, "type": "function",
                                "function": {"name": name, "arguments": arguments},
                            }]}),
                            None,
                        ));
                    }
                    // thinking, redacted_thinking, server tool use (a tool the provider runs
                    // itself, e.g. web search) and its results: no counterpart.
                    _ => self.silent_blocks.push(index),
                }
            }
            "content_block_delta" => {
                let index = Self::block_index(&data)?;
                let delta = data.get("delta");
                match delta.and_then(|d| str_at(d, "type")) {
                    Some("text_delta") => {
                        let text = delta.and_then(|d| str_at(d, "text")).unwrap_or("");
                        if !text.is_empty() {
                            out.push(self.chunk(json!({"content": text}), None));
                        }
                    }
                    Some("input_json_delta") if self.silent_blocks.contains(&index) => {}
                    Some("input_json_delta") => {
                        let part = delta.and_then(|d| str_at(d, "partial_json")).unwrap_or("");
                        let k = self
                            .tool_blocks
                            .iter()
                            .find(|(i, _)| *i == index)
                            .map(|(_, k)| *k)
                            .ok_or_else(|| {
                                TranslateError::Upstream(format!(
                                    "input_json_delta for block {index}, which is not a tool_use block"
                                ))
                            })?;
                        if !part.is_empty() {
                            out.push(self.chunk(
                                json!({"tool_calls": [{"index": k, "function": {"arguments": part}}]}),
                                None,
                            ));
                        }
                    }
                    // thinking_delta, signature_delta, citations_delta: no counterpart.
                    _ => {}
                }
            }
            "message_delta" => {
                self.usage.merge(Usage::from_anthropic(data.get("usage")));
                let stop = data.get("delta").and_then(|d| str_at(d, "stop_reason"));
                if !self.finish_sent {
                    out.push(self.chunk(json!({}), Some(finish_reason_from_stop(stop))));
                    self.finish_sent = true;
                }
            }
            "message_stop" => self.close(out),
            "error" => {
                let err = data.get("error");
                let message = err
                    .and_then(|e| str_at(e, "message"))
                    .unwrap_or("the provider's stream failed");
                let kind = err.and_then(|e| str_at(e, "type")).unwrap_or("api_error");
                let body = json!({"error": {"message": message, "type": kind, "code": null, "param": null}});
                out.push(SseEvent::data(body.to_string()));
                self.done = true;
            }
            // content_block_stop, ping, and event types added later.
            _ => {}
        }
        Ok(())
    }

    /// A provider stream that ends without `message_stop` was cut short: closing it like a
    /// complete answer would hide that from the client, so it is an error (the caller ends
    /// the client's stream with an error event).
    fn finish(&mut self, _out: &mut Vec<SseEvent>) -> Result<(), TranslateError> {
        if !self.done {
            return Err(TranslateError::Upstream(
                "the stream ended before message_stop".into(),
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// OpenAI -> Anthropic
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Tool,
}

/// An OpenAI tool call being streamed: its `index` in the chunks, its id, its Anthropic block.
struct ToolCall {
    openai_index: u64,
    id: String,
    block: u64,
}

/// OpenAI chunk events -> Anthropic stream events.
pub struct StreamFromOpenAi {
    model: String,
    created: u64,
    started: bool,
    next_block: u64,
    open: Option<(u64, Block)>,
    tools: Vec<ToolCall>,
    stop_reason: Option<&'static str>,
    usage: Usage,
    /// `message_stop` or an error was emitted: nothing more is.
    done: bool,
}

fn named(name: &str, data: Value) -> SseEvent {
    SseEvent::named(name, data.to_string())
}

impl StreamFromOpenAi {
    pub fn new(model: &str) -> Self {
        StreamFromOpenAi {
            model: model.to_string(),
            created: crate::clock::unix_s(),
            started: false,
            next_block: 0,
            open: None,
            tools: Vec::new(),
            stop_reason: None,
            usage: Usage::default(),
            done: false,
        }
    }

    fn start(&mut self, chunk: Option<&Value>, out: &mut Vec<SseEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let id = message_id(chunk.and_then(|c| str_at(c, "id")), self.created);
        if let Some(model) = chunk.and_then(model_at) {
            self.model = model.to_string();
        }
        out.push(named(
            "message_start",
            json!({"type": "message_start", "message": {
                "id": id, "type": "message", "role": "assistant", "content": [],
                "model": self.model, "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }}),
        ));
    }

    fn close_block(&mut self, out: &mut Vec<SseEvent>) {
        if let Some((index, _)) = self.open.take() {
            out.push(named(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ));
        }
    }

    fn open_block(&mut self, kind: Block, content_block: Value, out: &mut Vec<SseEvent>) -> u64 {
        self.close_block(out);
        let index = self.next_block;
        self.next_block += 1;
        self.open = Some((index, kind));
        out.push(named(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": content_block}),
        ));
        index
    }

    fn text(&mut self, text: &str, out: &mut Vec<SseEvent>) {
        let index = match self.open {
            Some((index, Block::Text)) => index,
            _ => self.open_block(Block::Text, json!({"type": "text", "text": ""}), out),
        };
        out.push(named(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index,
                   "delta": {"type": "text_delta", "text": text}}),
        ));
    }

    fn tool_call(&mut self, position: usize, call: &Value, out: &mut Vec<SseEvent>) {
        let openai_index = call
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(position as u64);
        let id = str_at(call, "id").filter(|id| !id.is_empty());
        let function = call.get("function");
        let known = self
            .tools
            .iter()
            .position(|t| t.openai_index == openai_index);
        // A new call: an index not seen yet, or a new id on a known index.
        let is_new = match (known.and_then(|k| self.tools.get(k)), id) {
            (None, _) => true,
            (Some(t), Some(id)) => t.id != id,
            (Some(_), None) => false,
        };
        let block = if is_new {
            let id = id
                .map(str::to_string)
                .unwrap_or_else(|| format!("toolu_tollgate_{openai_index}"));
            let name = function.and_then(|f| str_at(f, "name")).unwrap_or("");
            let block = self.open_block(
                Block::Tool,
                json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                out,
            );
            let call = ToolCall {
                openai_index,
                id,
                block,
            };
            match known.and_then(|k| self.tools.get_mut(k)) {
                Some(slot) => *slot = call,
                None => self.tools.push(call),
            }
            block
        } else {
            match known.and_then(|k| self.tools.get(k)) {
                Some(t) => t.block,
                None => return,
            }
        };
        let args = function.and_then(|f| str_at(f, "arguments")).unwrap_or("");
        if !args.is_empty() {
            out.push(named(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": block,
                       "delta": {"type": "input_json_delta", "partial_json": args}}),
            ));
        }
    }

    fn close(&mut self, out: &mut Vec<SseEvent>) {
        self.start(None, out);
        self.close_block(out);
        let usage = self.usage.to_anthropic();
        out.push(named(
            "message_delta",
            json!({"type": "message_delta",
                   "delta": {"stop_reason": self.stop_reason.unwrap_or("end_turn"), "stop_sequence": null},
                   "usage": usage}),
        ));
        out.push(named("message_stop", json!({"type": "message_stop"})));
        self.done = true;
    }
}

impl StreamTranslator for StreamFromOpenAi {
    fn on_event(
        &mut self,
        event: &SseEvent,
        out: &mut Vec<SseEvent>,
    ) -> Result<(), TranslateError> {
        if self.done {
            return Ok(());
        }
        if event.data.trim() == "[DONE]" {
            self.close(out);
            return Ok(());
        }
        let chunk = parse(event, "an OpenAI")?;
        if let Some(err) = chunk.get("error").filter(|e| !e.is_null()) {
            let message = str_at(err, "message").unwrap_or("the provider's stream failed");
            out.push(named(
                "error",
                json!({"type": "error", "error": {"type": "api_error", "message": message}}),
            ));
            self.done = true;
            return Ok(());
        }
        let choices = chunk.get("choices").and_then(Value::as_array);
        let usage = chunk.get("usage").filter(|u| u.is_object());
        if !self.started
            && str_at(&chunk, "id").is_none_or(str::is_empty)
            && choices.is_none_or(Vec::is_empty)
            && usage.is_none()
        {
            // Azure's leading `prompt_filter_results` chunk: no id, no choices, nothing to say.
            return Ok(());
        }
        self.start(Some(&chunk), out);
        if let Some(usage) = usage {
            self.usage.merge(Usage::from_openai(Some(usage)));
        }
        let choice = choices.and_then(|cs| {
            cs.iter()
                .find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
        });
        let Some(choice) = choice else {
            return Ok(());
        };
        if let Some(delta) = choice.get("delta") {
            for key in ["content", "refusal"] {
                if let Some(text) = str_at(delta, key).filter(|t| !t.is_empty()) {
                    self.text(text, out);
                }
            }
            if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
                for (position, call) in calls.iter().enumerate() {
                    self.tool_call(position, call, out);
                }
            }
        }
        if let Some(finish) = str_at(choice, "finish_reason") {
            self.stop_reason = Some(stop_reason_from_finish(Some(finish)));
            self.close_block(out);
        }
        Ok(())
    }

    /// An OpenAI stream that ends without `[DONE]` is complete only if it gave a
    /// `finish_reason`; otherwise it was cut short, which is an error, not an `end_turn`.
    fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), TranslateError> {
        if self.done {
            return Ok(());
        }
        if self.stop_reason.is_none() {
            return Err(TranslateError::Upstream(
                "the stream ended before a finish_reason".into(),
            ));
        }
        self.close(out);
        Ok(())
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
