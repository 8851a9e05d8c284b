"""Both official SDKs against the gateway, for each model given: whole answers, streams and a
tool-call round trip, with the OpenAI SDK and with the Anthropic SDK. The upstream is
Tollgate's mock provider, whose answers are deterministic (see src/mock_provider).

usage: roundtrip.py BASE_URL VIRTUAL_KEY MODEL[,MODEL...]
Prints one JSON object with the failures and exits 1 if there are any.
"""

import json
import sys

import anthropic
import openai

base, key, models = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


oa = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
an = anthropic.Anthropic(base_url=base, api_key=key, max_retries=0)

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
OA_TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city", "parameters": SCHEMA}}]
AN_TOOLS = [{"name": "get_weather", "description": "Weather for a city", "input_schema": SCHEMA}]
HELLO = [{"role": "user", "content": "Hello there"}]
ASK = {"role": "user", "content": "What is the weather in Paris?"}
TOOL_RESULT = "Sunny, 21 C"
BETAS = ["interleaved-thinking-2025-05-14", "context-1m-2025-08-07"]


def openai_sdk(model):
    r = oa.chat.completions.create(model=model, messages=[{"role": "system", "content": "Be brief."}] + HELLO)
    text = r.choices[0].message.content or ""
    check(text.startswith("Hello from the Tollgate mock provider"), f"{model} openai whole text: {text!r}")
    check(r.choices[0].finish_reason == "stop", f"{model} openai whole finish: {r.choices[0].finish_reason}")
    check(r.usage is not None and r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0, f"{model} openai whole usage: {r.usage}")

    parts, finish, usage = [], None, None
    stream = oa.chat.completions.create(
        model=model, messages=[{"role": "system", "content": "Be brief."}] + HELLO, stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    check("".join(parts) == text, f"{model} openai stream text {''.join(parts)!r} != {text!r}")
    check(finish == "stop", f"{model} openai stream finish: {finish}")
    check(usage is not None and usage.completion_tokens > 0, f"{model} openai stream usage: {usage}")

    r = oa.chat.completions.create(model=model, messages=[ASK], tools=OA_TOOLS)
    calls = r.choices[0].message.tool_calls or []
    check(r.choices[0].finish_reason == "tool_calls", f"{model} openai tool finish: {r.choices[0].finish_reason}")
    check(len(calls) == 1 and calls[0].function.name == "get_weather", f"{model} openai tool calls: {calls}")
    if calls:
        check(json.loads(calls[0].function.arguments) == {"city": "test"}, f"{model} openai tool args: {calls[0].function.arguments}")
        followup = [ASK, {"role": "assistant", "content": None, "tool_calls": [calls[0].model_dump(exclude_none=True)]},
                    {"role": "tool", "tool_call_id": calls[0].id, "content": TOOL_RESULT}]
        r2 = oa.chat.completions.create(model=model, messages=followup, tools=OA_TOOLS)
        answer = r2.choices[0].message.content or ""
        check(answer.startswith("The tool said: " + TOOL_RESULT), f"{model} openai tool result answer: {answer!r}")

    name, args = None, ""
    for chunk in oa.chat.completions.create(model=model, messages=[ASK], tools=OA_TOOLS, stream=True):
        for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            name = tc.function.name or name
            args += tc.function.arguments or ""
    check(name == "get_weather" and args and json.loads(args) == {"city": "test"}, f"{model} openai streamed tool call: {name} {args!r}")
    return text


def anthropic_sdk(model, text):
    m = an.messages.create(model=model, max_tokens=256, system="Be brief.", messages=HELLO)
    got = "".join(b.text for b in m.content if b.type == "text")
    check(got == text, f"{model} anthropic whole text {got!r} != {text!r}")
    check(m.stop_reason == "end_turn", f"{model} anthropic whole stop: {m.stop_reason}")
    check(m.usage.input_tokens > 0 and m.usage.output_tokens > 0, f"{model} anthropic whole usage: {m.usage}")

    with an.messages.stream(model=model, max_tokens=256, system="Be brief.", messages=HELLO) as s:
        streamed = "".join(s.text_stream)
        final = s.get_final_message()
    check(streamed == text, f"{model} anthropic stream text {streamed!r} != {text!r}")
    check(final.stop_reason == "end_turn", f"{model} anthropic stream stop: {final.stop_reason}")
    check(final.usage.output_tokens > 0, f"{model} anthropic stream usage: {final.usage}")

    # The beta client sends `anthropic-beta` (and `?beta=true`); the gateway passes the betas on
    # to Anthropic-type providers (checked in sdk.rs).
    m = an.beta.messages.create(model=model, max_tokens=256, messages=HELLO, betas=BETAS)
    got = "".join(b.text for b in m.content if b.type == "text")
    check(got == text, f"{model} anthropic beta text {got!r} != {text!r}")

    m = an.messages.create(model=model, max_tokens=256, tools=AN_TOOLS, messages=[ASK])
    uses = [b for b in m.content if b.type == "tool_use"]
    check(m.stop_reason == "tool_use", f"{model} anthropic tool stop: {m.stop_reason}")
    check(len(uses) == 1 and uses[0].name == "get_weather" and uses[0].input == {"city": "test"}, f"{model} anthropic tool use: {m.content}")
    if uses:
        followup = [ASK, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in m.content]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": TOOL_RESULT}]}]
        m2 = an.messages.create(model=model, max_tokens=256, tools=AN_TOOLS, messages=followup)
        answer = "".join(b.text for b in m2.content if b.type == "text")
        check(answer.startswith("The tool said: " + TOOL_RESULT), f"{model} anthropic tool result answer: {answer!r}")

    with an.messages.stream(model=model, max_tokens=256, tools=AN_TOOLS, messages=[ASK]) as s:
        final = s.get_final_message()
    uses = [b for b in final.content if b.type == "tool_use"]
    check(len(uses) == 1 and uses[0].input == {"city": "test"} and final.stop_reason == "tool_use",
          f"{model} anthropic streamed tool use: {final.content} {final.stop_reason}")


for model in models:
    try:
        text = openai_sdk(model)
        anthropic_sdk(model, text)
    except Exception as e:  # an SDK exception is a failure to report, not a crash
        failures.append(f"{model}: {type(e).__name__}: {e}")

print(json.dumps({"models": models, "failures": failures}, indent=1))
sys.exit(1 if failures else 0)
