#!/usr/bin/env python3
"""Generate tests/golden/chat_templates/chat_templates.json.

Renders each model's published chat template the way Hugging Face
transformers' apply_chat_template does (transformers/utils/chat_template_utils.py,
_compile_jinja_template): jinja2 ImmutableSandboxedEnvironment with
trim_blocks=True, lstrip_blocks=True and the loopcontrols extension, plus
raise_exception(), strftime_now() and a tojson filter that calls
json.dumps(ensure_ascii=False, sort_keys=False). The variables are messages,
add_generation_prompt, bos_token, eos_token and the case's `extra` dict.

Run with the system Python (Jinja2 3.1.6):
    python3 scripts/reference/gen_chat_template_goldens.py
"""

import json
import os
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUTPUT = os.path.join(REPO, "tests", "golden", "chat_templates", "chat_templates.json")

# Template texts, copied byte for byte from the sources named in TEMPLATES.
LLAMA_3_1 = r'''{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\n\n"}}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- "<|python_tag|>" + tool_call.name + ".call(" }}
            {%- for arg_name, arg_val in tool_call.arguments | items %}
                {{- arg_name + '="' + arg_val + '"' }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- endif %}
                {%- endfor %}
            {{- ")" }}
        {%- else  %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- '{"name": "' + tool_call.name + '", ' }}
            {{- '"parameters": ' }}
            {{- tool_call.arguments | tojson }}
            {{- "}" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {#- This means we're in ipython mode #}
            {{- "<|eom_id|>" }}
        {%- else %}
            {{- "<|eot_id|>" }}
        {%- endif %}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
'''

LLAMA_3_2 = r'''{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
'''

QWEN_2_5 = r'''{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
'''

MISTRAL_V0_3 = r'''{%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}

{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}
{%- set ns = namespace() %}
{%- set ns.index = 0 %}
{%- for message in loop_messages %}
    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}
        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
        {%- endif %}
        {%- set ns.index = ns.index + 1 %}
    {%- endif %}
{%- endfor %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS] [" }}
            {%- for tool in tools %}
                {%- set tool = tool.function %}
                {{- '{"type": "function", "function": {' }}
                {%- for key, val in tool.items() if key != "return" %}
                    {%- if val is string %}
                        {{- '"' + key + '": "' + val + '"' }}
                    {%- else %}
                        {{- '"' + key + '": ' + val|tojson }}
                    {%- endif %}
                    {%- if not loop.last %}
                        {{- ", " }}
                    {%- endif %}
                {%- endfor %}
                {{- "}}" }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- else %}
                    {{- "]" }}
                {%- endif %}
            {%- endfor %}
            {{- "[/AVAILABLE_TOOLS]" }}
            {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\n\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST] " + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif message.tool_calls is defined and message.tool_calls is not none %}
        {{- "[TOOL_CALLS] [" }}
        {%- for tool_call in message.tool_calls %}
            {%- set out = tool_call.function|tojson %}
            {{- out[:-1] }}
            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}
                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
            {%- endif %}
            {{- ', "id": "' + tool_call.id + '"}' }}
            {%- if not loop.last %}
                {{- ", " }}
            {%- else %}
                {{- "]" + eos_token }}
            {%- endif %}
        {%- endfor %}
    {%- elif message["role"] == "assistant" %}
        {{- " " + message["content"]|trim + eos_token}}
    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}
        {%- if message.content is defined and message.content.content is defined %}
            {%- set content = message.content.content %}
        {%- else %}
            {%- set content = message.content %}
        {%- endif %}
        {{- '[TOOL_RESULTS] {"content": ' + content|string + ", " }}
        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}
            {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
        {%- endif %}
        {{- '"call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
'''

TINYLLAMA = ("{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
             "{{ '<|user|>\n' + message['content'] + eos_token }}\n"
             "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
             "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
             "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}")

# When the gguf package is available (for example in /tmp/refenv), this copy
# is checked against the GGUF in models/.
SMOLLM2 = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
           "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
           "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
           "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}

SYSTEM = {"role": "system", "content": "You are a concise assistant.  "}
USER_1 = {"role": "user", "content": "  What is the capital of France?\n"}
ASSISTANT_1 = {"role": "assistant", "content": "Paris. \u00c7a va?"}
USER_2 = {"role": "user", "content": "And of Japan? Answer in \u65e5\u672c\u8a9e."}


def chat_cases(bos, eos, extra):
    """The conversations every template renders."""
    return [
        {"name": "single_user", "messages": [USER_1], "add_generation_prompt": True},
        {"name": "system_user", "messages": [SYSTEM, USER_1], "add_generation_prompt": True},
        {"name": "multi_turn", "messages": [SYSTEM, USER_1, ASSISTANT_1, USER_2], "add_generation_prompt": True},
        {"name": "multi_turn_no_prompt", "messages": [USER_1, ASSISTANT_1], "add_generation_prompt": False},
        {"name": "no_system_multi_turn", "messages": [USER_1, ASSISTANT_1, USER_2], "add_generation_prompt": True},
    ], bos, eos, extra


TEMPLATES = [
    {
        "name": "llama-3.1-instruct",
        "source": "meta-llama/Llama-3.1-8B-Instruct tokenizer_config.json chat_template, as vendored in a public "
                  "GitHub training script (search index file id 28257702141)",
        "template": LLAMA_3_1, "bos": "<|begin_of_text|>", "eos": "<|eot_id|>",
        "extra": {"tools": None},
        "more": [
            {"name": "tools_in_user_message", "messages": [SYSTEM, USER_1], "add_generation_prompt": True,
             "extra": {"tools": [WEATHER_TOOL], "date_string": "05 Mar 2025"}},
            {"name": "tools_in_system", "messages": [USER_1], "add_generation_prompt": True,
             "extra": {"tools": [WEATHER_TOOL], "tools_in_user_message": False}},
            {"name": "builtin_tools", "messages": [USER_1], "add_generation_prompt": True,
             "extra": {"tools": None, "builtin_tools": ["brave_search", "code_interpreter", "wolfram_alpha"]}},
            {"name": "raise_tools_without_user", "messages": [SYSTEM], "add_generation_prompt": True,
             "extra": {"tools": [WEATHER_TOOL]}},
        ],
    },
    {
        "name": "llama-3.2-instruct",
        "source": "meta-llama/Llama-3.2-3B-Instruct tokenizer_config.json chat_template, as vendored in the "
                  "Trinity-RFT Tinker example docs (search index file id 8842699056)",
        "template": LLAMA_3_2, "bos": "<|begin_of_text|>", "eos": "<|eot_id|>",
        # A fixed date keeps the golden stable; strftime_now is tested separately.
        "extra": {"tools": None, "date_string": "26 Jul 2024"},
        "more": [
            {"name": "tools_in_user_message", "messages": [USER_1, ASSISTANT_1, USER_2], "add_generation_prompt": True,
             "extra": {"tools": [WEATHER_TOOL], "date_string": "01 Jan 2025"}},
        ],
    },
    {
        "name": "qwen2.5-instruct",
        "source": "Qwen/Qwen2.5-7B-Instruct tokenizer_config.json chat_template, as quoted in a public GitHub "
                  "inference script (search index file id 331447093)",
        "template": QWEN_2_5, "bos": "", "eos": "<|im_end|>",
        "extra": {"tools": None},
        "more": [
            {"name": "tools", "messages": [USER_1], "add_generation_prompt": True, "extra": {"tools": [WEATHER_TOOL]}},
            {"name": "tools_with_system", "messages": [SYSTEM, USER_1, ASSISTANT_1, USER_2], "add_generation_prompt": True,
             "extra": {"tools": [WEATHER_TOOL, WEATHER_TOOL]}},
        ],
    },
    {
        "name": "mistral-7b-instruct-v0.3",
        "source": "mistralai/Mistral-7B-Instruct-v0.3 tokenizer_config.json chat_template, as vendored in a public "
                  "GitHub training-data module (search index file id 23526556419)",
        "template": MISTRAL_V0_3, "bos": "<s>", "eos": "</s>",
        "extra": {"tools": None},
        "more": [
            {"name": "tools", "messages": [SYSTEM, USER_1, ASSISTANT_1, USER_2], "add_generation_prompt": True,
             "extra": {"tools": [WEATHER_TOOL]}},
            {"name": "raise_two_user_turns", "messages": [USER_1, USER_2], "add_generation_prompt": True,
             "extra": {"tools": None}},
            {"name": "raise_unknown_role", "messages": [USER_1, {"role": "critic", "content": "x"}],
             "add_generation_prompt": True, "extra": {"tools": None}},
        ],
    },
    {
        "name": "tinyllama-1.1b-chat-v1.0",
        "source": "TinyLlama/TinyLlama-1.1B-Chat-v1.0 tokenizer_config.json chat_template, the Zephyr template "
                  "(HuggingFaceH4/zephyr-7b-beta), as vendored in a public GitHub DEFAULT_CHAT_TEMPLATE constant "
                  "(search index file id 8198254687)",
        "template": TINYLLAMA, "bos": "<s>", "eos": "</s>",
        "extra": {"tools": None},
        "more": [],
    },
    {
        "name": "smollm2-135m-instruct",
        "source": "models/SmolLM2-135M-Instruct.Q4_1.gguf, GGUF key tokenizer.chat_template",
        "template": SMOLLM2, "bos": "<|im_start|>", "eos": "<|im_end|>",
        "extra": {"tools": None},
        "more": [],
    },
]


def make_environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def check_smollm2_against_gguf():
    try:
        import gguf
    except ImportError:
        print("gguf not installed: SmolLM2 template not rechecked against the GGUF")
        return
    reader = gguf.GGUFReader(os.path.join(REPO, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    field = reader.fields["tokenizer.chat_template"]
    text = bytes(field.parts[field.data[0]]).decode("utf-8")
    assert text == SMOLLM2, "SmolLM2 template differs from the GGUF copy"


def main():
    check_smollm2_against_gguf()
    env = make_environment()
    out = []
    for entry in TEMPLATES:
        template = env.from_string(entry["template"])
        base_cases, _, _, _ = chat_cases(entry["bos"], entry["eos"], entry["extra"])
        cases = []
        for case in base_cases + entry["more"]:
            extra = dict(entry["extra"])
            extra.update(case.get("extra", {}))
            record = {"name": case["name"], "messages": case["messages"],
                      "add_generation_prompt": case["add_generation_prompt"], "extra": extra}
            try:
                record["expected"] = template.render(messages=case["messages"],
                                                     add_generation_prompt=case["add_generation_prompt"],
                                                     bos_token=entry["bos"], eos_token=entry["eos"], **extra)
            except jinja2.exceptions.TemplateError as error:
                record["expected_error"] = str(error)
            cases.append(record)
        out.append({"name": entry["name"], "source": entry["source"], "bos_token": entry["bos"],
                    "eos_token": entry["eos"], "template": entry["template"], "cases": cases})
    with open(OUTPUT, "w", encoding="utf-8") as f:
        json.dump({"generator": "scripts/reference/gen_chat_template_goldens.py", "jinja2": jinja2.__version__,
                   "templates": out}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {OUTPUT}: {sum(len(t['cases']) for t in out)} cases")


if __name__ == "__main__":
    main()
