#!/usr/bin/env python3
"""Check a Hugging Face directory written by `swiftkv convert` against the source GGUF.

Loads DIR with transformers (a llama_swiftkv directory is loaded with its
ordinary q/k/v_proj tensors, i.e. SwiftKV off) and the original GGUF with
transformers' GGUF loader, runs both in float32 on fixed token-id prompts, and
prints the maximum relative error max|a - b| / max|b| over all positions of
each prompt. For a llama2.c checkpoint, pass the GGUF that contains the same
weights (stories260K.bin pairs with stories260Ktok512.gguf).

If DIR is a SwiftKV checkpoint, the script also checks its swiftkv tensors
against the standard initialisation computed from the GGUF weights.

Exit status: 0 when every error is within --tolerance, 1 otherwise.
"""

import argparse
import json
import os
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, LlamaForCausalLM

from golden_io import setup_determinism
from gen_swiftkv_goldens import swiftkv_from_llama
from swiftkv_model import llama_config_from_dict

PROMPT_LENGTHS = [1, 9, 40]


def load_gguf(path):
    """Load a GGUF with transformers, dequantized to float32."""
    gguf_dir, gguf_name = os.path.split(os.path.abspath(path))
    # stories260Ktok512.gguf stores padding_token_id = 0xFFFFFFFF (no padding
    # token), which transformers 4.57.1 passes on as nn.Embedding's padding_idx
    # and then rejects. padding_idx only affects training, so drop it.
    return AutoModelForCausalLM.from_pretrained(
        gguf_dir, gguf_file=gguf_name, dtype=torch.float32, attn_implementation="eager", pad_token_id=None
    ).eval()


def load_directory_state(directory):
    index_path = os.path.join(directory, "model.safetensors.index.json")
    if os.path.isfile(index_path):
        with open(index_path) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
    else:
        shards = ["model.safetensors"]
    state = {}
    for shard in shards:
        state.update({name: t.to(torch.float32) for name, t in load_file(os.path.join(directory, shard)).items()})
    return state


def load_converted(directory):
    """Return (LlamaForCausalLM with the ordinary tensors, config dict, full float32 state dict)."""
    with open(os.path.join(directory, "config.json")) as f:
        config_dict = json.load(f)
    state = load_directory_state(directory)
    config = llama_config_from_dict(config_dict)
    config._attn_implementation = "eager"
    model = LlamaForCausalLM(config).eval()
    ordinary = {name: t for name, t in state.items() if "swiftkv" not in name}
    if config.tie_word_embeddings:
        ordinary.setdefault("lm_head.weight", ordinary["model.embed_tokens.weight"])
    missing, unexpected = model.load_state_dict(ordinary, strict=False)
    if missing or unexpected:
        sys.exit(f"{directory}: tensor names do not match Llama: missing {missing}, unexpected {unexpected}")
    return model, config_dict, state


def check_swiftkv_tensors(config_dict, state, reference_llama):
    """Return the max relative error of the converted swiftkv tensors against the standard init."""
    expected = swiftkv_from_llama(
        reference_llama, config_dict["num_key_value_layers"], config_dict.get("key_value_group_size", 1)
    ).state_dict()
    worst = 0.0
    for name, tensor in expected.items():
        if "swiftkv" not in name:
            continue
        if name not in state:
            sys.exit(f"missing SwiftKV tensor {name}")
        error = float((state[name] - tensor).abs().max() / tensor.abs().max())
        worst = max(worst, error)
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", help="Hugging Face directory written by `swiftkv convert`")
    parser.add_argument("--gguf", required=True, help="path of the GGUF the directory was converted from")
    parser.add_argument("--tolerance", type=float, default=1e-5, help="maximum allowed relative error")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()

    setup_determinism(args.threads)
    converted, config_dict, state = load_converted(args.dir)
    reference = load_gguf(args.gguf)

    generator = torch.Generator().manual_seed(0)
    vocab = reference.config.vocab_size
    failed = False
    for length in PROMPT_LENGTHS:
        ids = torch.randint(0, vocab, (1, length), generator=generator)
        with torch.no_grad():
            expected = reference(ids).logits[0]
            actual = converted(ids).logits[0]
        error = float((actual - expected).abs().max() / expected.abs().max())
        failed |= error > args.tolerance
        print(f"prompt of {length} tokens: max relative error {error:.3g}")

    if config_dict.get("swiftkv"):
        error = check_swiftkv_tensors(config_dict, state, reference)
        failed |= error > args.tolerance
        print(f"SwiftKV tensors against the standard initialisation: max relative error {error:.3g}")

    print("FAILED" if failed else "OK", f"(tolerance {args.tolerance:g})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
