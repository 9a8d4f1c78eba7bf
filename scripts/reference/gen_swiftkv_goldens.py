#!/usr/bin/env python3
"""Generate SwiftKV golden values with a PyTorch reference built on transformers' Llama modules.

Writes, under OUT (default tests/golden/swiftkv):

  tiny_g1/, tiny_g2/          random float32 llama_swiftkv checkpoints
                              (config.json + model.safetensors): L=6, K=2,
                              G=1 and G=2; tiny_g2 uses llama3 rope scaling
  tiny_g1.json, tiny_g2.json  index: prompt ids, logits blocks, greedy tokens
  tiny_g1.logits.f32, ...     logits at every prompt position, SwiftKV on
                              (training-mode forward) and off (original
                              q/k/v_proj, i.e. plain Llama)
  smollm2_k15.json            SmolLM2-135M-Instruct converted to SwiftKV with
  smollm2_k15.logits.f32      K=15, G=1 (not committed as a checkpoint): last
                              position logits and 64-token greedy runs

Greedy continuations append the argmax token and rerun the full training-mode
forward over the whole sequence; no KV cache is involved. The end-of-sequence
token is an ordinary token and never stops decoding.

Before writing anything the script checks the reference against transformers:
with SwiftKV off it must give LlamaForCausalLM's logits, a SwiftKV layer whose
swiftkv weights copy the originals (K = L-1) must change nothing, and the
prefill path that stops prompt tokens after layer K-1 must give the
training-mode logits of the last row.
"""

import argparse
import copy
import json
import os

import torch
from safetensors.torch import load_file, save_file
from transformers import LlamaConfig, LlamaForCausalLM

from golden_io import (
    SMOLLM2_GGUF_NAME,
    LogitsWriter,
    load_smollm2,
    setup_determinism,
    top2_margin,
    version_info,
    write_json,
)
from gen_smollm2_goldens import CHAT_PROMPTS, PLAIN_PROMPTS
from swiftkv_model import SwiftKVForCausalLM, group_leader, llama_config_from_dict

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Relative tolerance (max |a - b| / max |b|) for values that are equal in exact
# arithmetic but computed with a different operation order.
SAME_MATH_TOLERANCE = 1e-5

TINY_BASE_CONFIG = {
    "architectures": ["LlamaSwiftKVForCausalLM"],
    "model_type": "llama_swiftkv",
    "swiftkv": True,
    "num_key_value_layers": 2,
    "key_value_group_size": 1,
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "hidden_act": "silu",
    "hidden_size": 64,
    "head_dim": 16,
    "initializer_range": 0.02,
    "intermediate_size": 160,
    "max_position_embeddings": 256,
    "mlp_bias": False,
    "num_attention_heads": 4,
    "num_hidden_layers": 6,
    "num_key_value_heads": 2,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": None,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "float32",
    "use_cache": True,
    "vocab_size": 256,
}

# llama3 scaling with original_max_position_embeddings = 64 puts the 8 RoPE
# frequencies of head_dim 16 in all three regimes: wavelengths below 16 are
# kept, 16..64 are interpolated, above 64 are divided by the factor.
TINY_CHECKPOINTS = {
    "tiny_g1": {"key_value_group_size": 1, "seed": 1},
    "tiny_g2": {
        "key_value_group_size": 2,
        "seed": 2,
        "rope_scaling": {
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64,
        },
    },
}

TINY_PROMPT_LENGTHS = [1, 7, 33]
TINY_GREEDY_TOKENS = 16

SMOLLM2_NUM_KEY_VALUE_LAYERS = 15
SMOLLM2_PROMPTS = ["capital_of_france", "story_opening", "chat_single_turn", "chat_multi_turn"]
SMOLLM2_GREEDY_PROMPTS = ["story_opening", "chat_single_turn"]
SMOLLM2_GREEDY_TOKENS = 64


def relative_error(actual, expected):
    return float((actual - expected).abs().max() / expected.abs().max())


def check_close(actual, expected, description):
    error = relative_error(actual, expected)
    assert error <= SAME_MATH_TOLERANCE, f"{description}: relative error {error:.3g} > {SAME_MATH_TOLERANCE}"
    print(f"check passed: {description} (relative error {error:.2g})")


def random_state_dict(model, seed):
    """Draw every parameter at random: norms near 1, embeddings N(0, 1), linears N(0, 1/fan_in)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, tensor in model.state_dict().items():
        noise = torch.randn(tensor.shape, generator=generator, dtype=torch.float32)
        if name.endswith("norm.weight") or name.endswith("layernorm.weight") or name.endswith("norm_swiftkv.weight"):
            state[name] = 1.0 + 0.1 * noise
        elif name == "model.embed_tokens.weight":
            state[name] = noise
        else:
            state[name] = noise / tensor.shape[1] ** 0.5
    return state


def plain_llama(config, state):
    """Load the ordinary tensors of `state` into transformers' LlamaForCausalLM."""
    llama_config = copy.deepcopy(config)
    llama_config._attn_implementation = "eager"
    model = LlamaForCausalLM(llama_config).eval()
    ordinary = {name: tensor for name, tensor in state.items() if "swiftkv" not in name}
    model.load_state_dict(ordinary, strict=True)
    return model


def greedy(model, ids, steps, swiftkv):
    """Append argmax tokens, rerunning the full training-mode forward each step."""
    sequence = list(ids)
    tokens, margins = [], []
    for _ in range(steps):
        with torch.no_grad():
            logits = model(torch.tensor(sequence), swiftkv=swiftkv)[-1]
        token = int(logits.argmax())
        tokens.append(token)
        margins.append(top2_margin(logits))
        sequence.append(token)
    return tokens, margins


def self_check_tiny(model, config, state, prompts):
    llama = plain_llama(config, state)
    for ids in prompts:
        with torch.no_grad():
            expected = llama(torch.tensor([ids])).logits[0]
            check_close(model(torch.tensor(ids), swiftkv=False), expected, f"SwiftKV off == LlamaForCausalLM, T={len(ids)}")
            training = model(torch.tensor(ids), swiftkv=True)
            prefill = model(torch.tensor(ids), swiftkv=True, logits_rows=[len(ids) - 1])
            check_close(prefill[0], training[-1], f"prefill skipping layers >= K == training mode, T={len(ids)}")
            if len(ids) > 1:
                change = relative_error(training, expected)
                assert change > 1e-2, f"SwiftKV on barely changes the logits ({change:.3g}): wiring not exercised"

    # Only the last layer is a SwiftKV layer and its swiftkv weights copy the
    # originals, so s equals that layer's own normalised input and nothing changes.
    if config.key_value_group_size == 1:
        last = config.num_hidden_layers - 1
        copied_config = copy.deepcopy(config)
        copied_config.num_key_value_layers = last
        copied = SwiftKVForCausalLM(copied_config).eval()
        copied_state = {name: t for name, t in state.items() if "swiftkv" not in name}
        prefix = f"model.layers.{last}."
        copied_state["model.norm_swiftkv.weight"] = state[prefix + "input_layernorm.weight"]
        for proj in ("q", "k", "v"):
            copied_state[f"{prefix}self_attn.{proj}_proj_swiftkv.weight"] = state[f"{prefix}self_attn.{proj}_proj.weight"]
        copied.load_state_dict(copied_state, strict=True)
        ids = prompts[-1]
        with torch.no_grad():
            expected = llama(torch.tensor([ids])).logits[0]
            check_close(copied(torch.tensor(ids), swiftkv=True), expected, "K=L-1 with copied swiftkv weights == Llama")


def write_tiny(out_dir, name, settings):
    config_dict = dict(TINY_BASE_CONFIG)
    config_dict.update({key: value for key, value in settings.items() if key != "seed"})
    checkpoint_dir = os.path.join(out_dir, name)
    os.makedirs(checkpoint_dir, exist_ok=True)
    with open(os.path.join(checkpoint_dir, "config.json"), "w") as f:
        json.dump(config_dict, f, indent=2, sort_keys=True)
        f.write("\n")

    config = llama_config_from_dict(config_dict)
    model = SwiftKVForCausalLM(config).eval()
    state = random_state_dict(model, settings["seed"])
    save_file(state, os.path.join(checkpoint_dir, "model.safetensors"), metadata={"format": "pt"})
    # Reload from disk so the goldens come from exactly the committed bytes.
    model.load_state_dict(load_file(os.path.join(checkpoint_dir, "model.safetensors")), strict=True)

    generator = torch.Generator().manual_seed(100 + settings["seed"])
    prompts = [torch.randint(0, config.vocab_size, (n,), generator=generator).tolist() for n in TINY_PROMPT_LENGTHS]
    self_check_tiny(model, config, state, prompts)

    writer = LogitsWriter(os.path.join(out_dir, f"{name}.logits.f32"))
    records = []
    for ids in prompts:
        with torch.no_grad():
            on = model(torch.tensor(ids), swiftkv=True)
            off = model(torch.tensor(ids), swiftkv=False)
        greedy_on, margins_on = greedy(model, ids, TINY_GREEDY_TOKENS, swiftkv=True)
        greedy_off, margins_off = greedy(model, ids, TINY_GREEDY_TOKENS, swiftkv=False)
        records.append(
            {
                "ids": ids,
                "swiftkv_logits": writer.append(on),
                "original_logits": writer.append(off),
                "swiftkv_greedy_ids": greedy_on,
                "swiftkv_greedy_top2_margins": margins_on,
                "original_greedy_ids": greedy_off,
                "original_greedy_top2_margins": margins_off,
            }
        )
    writer.close()
    write_json(
        os.path.join(out_dir, f"{name}.json"),
        {
            "checkpoint": name,
            "generated_by": "scripts/reference/gen_swiftkv_goldens.py",
            "versions": version_info(),
            "logits_file": f"{name}.logits.f32",
            "vocab_size": config.vocab_size,
            "swiftkv_logits": "training-mode forward, SwiftKV on: one row per prompt position",
            "original_logits": "SwiftKV off (original q/k/v_proj in every layer): one row per prompt position",
            "greedy": f"{TINY_GREEDY_TOKENS} tokens, full forward rerun per step, eos not special",
            "prompts": records,
        },
    )


def swiftkv_from_llama(hf_model, num_key_value_layers, group_size):
    """Convert a transformers Llama to the reference SwiftKV model with the standard initialisation."""
    config_dict = hf_model.config.to_dict()
    config_dict.update(
        {"swiftkv": True, "num_key_value_layers": num_key_value_layers, "key_value_group_size": group_size}
    )
    config = llama_config_from_dict(config_dict)
    model = SwiftKVForCausalLM(config).eval()
    state = dict(hf_model.state_dict())
    layers = config.num_hidden_layers
    state["model.norm_swiftkv.weight"] = state[f"model.layers.{num_key_value_layers}.input_layernorm.weight"]
    for i in range(num_key_value_layers, layers):
        prefix = f"model.layers.{i}.self_attn."
        state[prefix + "q_proj_swiftkv.weight"] = state[prefix + "q_proj.weight"]
        if group_leader(i, num_key_value_layers, group_size) == i:
            group = range(i, i + group_size)
            for proj in ("k", "v"):
                stacked = torch.stack([state[f"model.layers.{j}.self_attn.{proj}_proj.weight"] for j in group])
                state[f"{prefix}{proj}_proj_swiftkv.weight"] = stacked.mean(dim=0)
    model.load_state_dict(state, strict=True)
    return model


def write_smollm2(out_dir, model_dir, gguf_name):
    tokenizer, hf_model = load_smollm2(model_dir, gguf_name)
    model = swiftkv_from_llama(hf_model, SMOLLM2_NUM_KEY_VALUE_LAYERS, 1)
    texts = dict(PLAIN_PROMPTS)
    for name, messages in CHAT_PROMPTS:
        texts[name] = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    writer = LogitsWriter(os.path.join(out_dir, "smollm2_k15.logits.f32"))
    records = []
    for name in SMOLLM2_PROMPTS:
        ids = tokenizer(texts[name], add_special_tokens=False).input_ids
        with torch.no_grad():
            expected = hf_model(torch.tensor([ids])).logits[0, -1]
            check_close(model(torch.tensor(ids), swiftkv=False)[-1], expected, f"SmolLM2 SwiftKV off == transformers, {name}")
            on = model(torch.tensor(ids), swiftkv=True)[-1]
            prefill = model(torch.tensor(ids), swiftkv=True, logits_rows=[len(ids) - 1])[0]
            check_close(prefill, on, f"SmolLM2 prefill skipping layers >= K == training mode, {name}")
        record = {
            "name": name,
            "text": texts[name],
            "ids": ids,
            "swiftkv_last_logits": writer.append(on),
            "swiftkv_last_top2_margin": top2_margin(on),
        }
        if name in SMOLLM2_GREEDY_PROMPTS:
            tokens, margins = greedy(model, ids, SMOLLM2_GREEDY_TOKENS, swiftkv=True)
            record.update(
                {"swiftkv_greedy_ids": tokens, "swiftkv_greedy_text": tokenizer.decode(tokens), "swiftkv_greedy_top2_margins": margins}
            )
        records.append(record)
        print(f"SmolLM2 SwiftKV {name}: {len(ids)} prompt tokens")
    writer.close()
    write_json(
        os.path.join(out_dir, "smollm2_k15.json"),
        {
            "model": gguf_name,
            "generated_by": "scripts/reference/gen_swiftkv_goldens.py",
            "versions": version_info(),
            "conversion": {
                "num_key_value_layers": SMOLLM2_NUM_KEY_VALUE_LAYERS,
                "key_value_group_size": 1,
                "init": "norm_swiftkv = layer K input_layernorm; q_proj_swiftkv = q_proj; "
                "leader k/v_proj_swiftkv = mean of k/v_proj over its group; weights dequantized to float32 "
                "by transformers (rotate-half RoPE layout)",
            },
            "logits_file": "smollm2_k15.logits.f32",
            "vocab_size": hf_model.config.vocab_size,
            "tokenization": "tokenizer(text, add_special_tokens=False) on the tokenizer transformers builds from the GGUF",
            "swiftkv_last_logits": "training-mode forward, SwiftKV on, last prompt position only",
            "greedy": f"{SMOLLM2_GREEDY_TOKENS} tokens, full training-mode forward rerun per step, eos not special",
            "prompts": records,
        },
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(REPO_ROOT, "tests", "golden", "swiftkv"), help="output folder")
    parser.add_argument("--model-dir", default=os.path.join(REPO_ROOT, "models"), help="folder holding the SmolLM2 GGUF")
    parser.add_argument("--gguf", default=SMOLLM2_GGUF_NAME, help="SmolLM2 GGUF file name inside --model-dir")
    parser.add_argument("--skip-smollm2", action="store_true", help="write only the tiny checkpoints and their goldens")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()

    setup_determinism(args.threads)
    os.makedirs(args.out, exist_ok=True)
    for name, settings in TINY_CHECKPOINTS.items():
        write_tiny(args.out, name, settings)
    if not args.skip_smollm2:
        write_smollm2(args.out, args.model_dir, args.gguf)


if __name__ == "__main__":
    main()
