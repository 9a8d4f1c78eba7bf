#!/usr/bin/env python3
"""Generate SmolLM2-135M-Instruct golden logits and greedy continuations.

Runs transformers' LlamaForCausalLM on the Q4_1 GGUF, dequantized to float32,
with eager attention, and writes:

  OUT/logits.f32    next-token logits at the last prompt position, one row of
                    49152 little-endian float32 values per prompt
  OUT/prompts.json  index: prompt text, token ids, offset of its logits row,
                    64-token greedy continuation and the top-2 logit margin of
                    every greedy step

Token ids come from the tokenizer transformers builds from the GGUF, called as
tokenizer(text, add_special_tokens=False), so no BOS is added (the GGUF sets
tokenizer.ggml.add_bos_token = false). Chat prompts are rendered with the
GGUF's chat template (add_generation_prompt=True) to text first, then tokenized
the same way, so "<|im_start|>" and "<|im_end|>" map to their special ids.

Greedy decoding never stops early: the end-of-sequence token is an ordinary
token here. generate() gets eos_token_id=None, and the script asserts that
exactly 64 tokens come back and that each one is the argmax of its step's
logits, so no logits processor changed a choice.
"""

import argparse
import os
import time

import torch
from transformers import GenerationConfig

from golden_io import (
    SMOLLM2_GGUF_NAME,
    LogitsWriter,
    load_smollm2,
    setup_determinism,
    top2_margin,
    version_info,
    write_json,
)

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

LONG_TEXT = """\
The history of the bicycle is a story of many small inventions. Early machines in the 1810s had no pedals at all: riders pushed against the ground with their feet, and the wooden frames weighed more than twenty kilograms. Pedals attached to the front wheel came decades later, which is why the front wheels of some Victorian bicycles grew so large.

Photosynthesis, by contrast, is ancient. Plants, algae and some bacteria capture light with chlorophyll, split water molecules, and release oxygen as a by-product. The energy ends up stored in sugars, which the organism later burns in its mitochondria or, in the case of bacteria, across its cell membrane.

def merge_sorted(a, b):
    result = []
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i] <= b[j]:
            result.append(a[i]); i += 1
        else:
            result.append(b[j]); j += 1
    return result + a[i:] + b[j:]

Recipe notes for a simple bread: mix 500 g of flour, 350 ml of warm water, 10 g of salt and 7 g of dried yeast. Knead for ten minutes, let the dough rise for an hour, shape it, rise again for forty minutes, and bake at 230 degrees Celsius for about thirty-five minutes until the crust sounds hollow when tapped.

In the harbour town, the ferry left at 07:45 every weekday, except on public holidays, when the first boat did not sail until 09:30. Fishermen complained that the timetable had been written by someone who had never seen the tide tables; the mayor replied that the tides were not on the council's agenda.

Some questions have no easy answer. Why do cats purr? How did the first languages form? What would happen if the Moon were twice as far away? Scientists debate these questions with careful experiments, with models, and sometimes with nothing more than a good argument over coffee.

Finally, a short list of prime numbers for reference: 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97. The next one after that is"""

PLAIN_PROMPTS = [
    ("single_word", "Hello"),
    ("capital_of_france", "The capital of France is"),
    ("story_opening", "Once upon a time, there was a little robot who"),
    ("python_code", "def fibonacci(n):\n    "),
    ("numbers_and_punctuation", "In 2024, the city's population grew by 3.5% to"),
    ("long_mixed_text", LONG_TEXT),
]

CHAT_PROMPTS = [
    ("chat_single_turn", [{"role": "user", "content": "What is the capital of France?"}]),
    (
        "chat_multi_turn",
        [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "Give me one word that rhymes with 'light'."},
            {"role": "assistant", "content": "Night."},
            {"role": "user", "content": "Now write a two-line poem using it."},
        ],
    ),
]

GREEDY_TOKENS = 64
MIN_LONG_PROMPT_TOKENS = 500


def greedy_continuation(model, ids, steps):
    """Return the greedy tokens and the top-2 margin of each step, via generate()."""
    config = GenerationConfig(
        do_sample=False,
        max_new_tokens=steps,
        eos_token_id=None,
        pad_token_id=model.config.pad_token_id,
        output_logits=True,
        return_dict_in_generate=True,
    )
    # generate() fills an unset eos_token_id from model.generation_config, so clear it there too.
    model.generation_config.eos_token_id = None
    input_ids = torch.tensor([ids])
    with torch.no_grad():
        result = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), generation_config=config)
    new_tokens = result.sequences[0, len(ids):].tolist()
    assert len(new_tokens) == steps, f"generate returned {len(new_tokens)} tokens, expected {steps}"
    margins = []
    for token, step_logits in zip(new_tokens, result.logits):
        assert int(step_logits[0].argmax()) == token, "a greedy token is not the argmax of its logits"
        margins.append(top2_margin(step_logits[0]))
    return new_tokens, margins


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", default=os.path.join(REPO_ROOT, "models"), help="folder holding the GGUF file")
    parser.add_argument("--gguf", default=SMOLLM2_GGUF_NAME, help="GGUF file name inside --model-dir")
    parser.add_argument("--out", default=os.path.join(REPO_ROOT, "tests", "golden", "smollm2"), help="output folder")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()

    setup_determinism(args.threads)
    tokenizer, model = load_smollm2(args.model_dir, args.gguf)
    os.makedirs(args.out, exist_ok=True)

    prompts = [(name, "plain", text, None) for name, text in PLAIN_PROMPTS]
    for name, messages in CHAT_PROMPTS:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        prompts.append((name, "chat", text, messages))

    writer = LogitsWriter(os.path.join(args.out, "logits.f32"))
    records = []
    start = time.time()
    for name, kind, text, messages in prompts:
        ids = tokenizer(text, add_special_tokens=False).input_ids
        if name == "long_mixed_text":
            assert len(ids) >= MIN_LONG_PROMPT_TOKENS, f"long prompt has only {len(ids)} tokens"
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1]
        greedy_ids, margins = greedy_continuation(model, ids, GREEDY_TOKENS)
        record = {"name": name, "kind": kind, "text": text}
        if messages is not None:
            record["messages"] = messages
        record.update(
            {
                "ids": ids,
                "last_logits": writer.append(logits),
                "last_top2_margin": top2_margin(logits),
                "greedy_ids": greedy_ids,
                "greedy_text": tokenizer.decode(greedy_ids),
                "greedy_top2_margins": margins,
            }
        )
        records.append(record)
        print(f"{time.time() - start:.0f}s {name}: {len(ids)} prompt tokens, greedy: {tokenizer.decode(greedy_ids)[:60]!r}")
    writer.close()

    write_json(
        os.path.join(args.out, "prompts.json"),
        {
            "model": args.gguf,
            "generated_by": "scripts/reference/gen_smollm2_goldens.py",
            "versions": version_info(),
            "dtype": "float32, dequantized from GGUF by transformers",
            "attention": "eager",
            "vocab_size": model.config.vocab_size,
            "logits_file": "logits.f32",
            "tokenization": "tokenizer(text, add_special_tokens=False) on the tokenizer transformers builds from the GGUF",
            "chat_template": "GGUF tokenizer.chat_template, add_generation_prompt=True, rendered to text then tokenized",
            "greedy": {
                "new_tokens": GREEDY_TOKENS,
                "method": "generate(do_sample=False, max_new_tokens=64, eos_token_id=None) with KV cache",
                "eos_handling": "end-of-sequence is an ordinary token: never suppressed, never stops decoding",
            },
            "prompts": records,
        },
    )


if __name__ == "__main__":
    main()
