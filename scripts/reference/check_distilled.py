#!/usr/bin/env python3
"""Check that a `swiftkv distill` output directory loads in the Python reference model.

Loads DIR's model.safetensors into the reference SwiftKV model of
swiftkv_model.py with a strict state-dict load (every tensor present, none
unexpected), tokenizes --prompt with DIR's tokenizer.json, greedy-decodes
--tokens tokens with SwiftKV on (training-mode forward, every step over the
whole sequence) and prints the completion. `swiftkv generate -m DIR -p PROMPT
-n TOKENS --weights f32 --temp 0` must print the same text.

Exit status: 0 when the load is strict and decoding ran, 1 otherwise.
"""

import argparse
import json
import os
import sys

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer

from golden_io import setup_determinism
from swiftkv_model import SwiftKVForCausalLM, llama_config_from_dict


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    parser.add_argument("--prompt", default="Once upon a time")
    parser.add_argument("--tokens", type=int, default=24)
    args = parser.parse_args()

    setup_determinism(1)
    with open(os.path.join(args.dir, "config.json")) as f:
        config_dict = json.load(f)
    if config_dict.get("model_type") != "llama_swiftkv":
        sys.exit(f"{args.dir}: model_type is {config_dict.get('model_type')}, expected llama_swiftkv")

    config = llama_config_from_dict(config_dict)
    model = SwiftKVForCausalLM(config).to(torch.float32)
    state = load_file(os.path.join(args.dir, "model.safetensors"))
    if config.tie_word_embeddings:
        state.setdefault("lm_head.weight", state["model.embed_tokens.weight"])
    result = model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=False)
    missing = [k for k in result.missing_keys if "rotary_emb" not in k]
    if missing or result.unexpected_keys:
        print(f"missing: {missing}\nunexpected: {result.unexpected_keys}")
        return 1

    tokenizer = Tokenizer.from_file(os.path.join(args.dir, "tokenizer.json"))
    ids = tokenizer.encode(args.prompt).ids
    prompt_length = len(ids)
    with torch.no_grad():
        for _ in range(args.tokens):
            logits = model(torch.tensor(ids), swiftkv=True)
            ids.append(int(torch.argmax(logits[-1])))
    print("strict load: ok")
    print("completion:", repr(tokenizer.decode(ids[prompt_length:])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
