#!/usr/bin/env python3
"""Generate the golden values of the distillation trainer with PyTorch autograd.

The student and teacher are the reference SwiftKV model of swiftkv_model.py,
built on transformers' Llama modules and loaded from a tiny random
llama_swiftkv checkpoint. The teacher runs with SwiftKV off and no gradients.
The student runs with SwiftKV on, and only norm_swiftkv, q_proj_swiftkv and
the group leaders' k/v_proj_swiftkv are trainable.

Each optimizer step accumulates two packed micro-batches (each loss divided
by 2), clips the gradient to global norm 1.0 and runs AdamW under the linear
warmup schedule. The script writes OUT/<name>.json with the batches, the
settings, the first micro-batch's losses and the loss of every step, and
OUT/<name>.grads.f32 with the gradient of the first step (before clipping)
of every trainable tensor, indexed in the JSON as one-row blocks.
"""

import argparse
import json
import math
import os

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from golden_io import LogitsWriter, setup_determinism, version_info, write_json
from swiftkv_model import SwiftKVForCausalLM, llama_config_from_dict

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GOLDEN_DIR = os.path.join(REPO_ROOT, "tests", "golden")

SETTINGS = {
    "lr": 5e-3,
    "warmup_ratio": 0.05,
    "steps": 20,
    "temperature": 2.0,
    "hidden_loss_mult": 1.0,
    "max_grad_norm": 1.0,
    "mask_inputs": True,
}


def make_batches(vocab_size, generator):
    """Two micro-batches of packed sequences with assistant masks."""
    batches = []
    for lengths in ([9, 14], [5, 7, 11]):
        sequences = []
        for length in lengths:
            ids = torch.randint(3, vocab_size, (length,), generator=generator).tolist()
            prompt = length // 3
            mask = [0] * prompt + [1] * (length - prompt)
            sequences.append({"tokens": ids, "mask": mask})
        batches.append(sequences)
    return batches


def trainable_names(model, config):
    names = ["model.norm_swiftkv.weight"]
    for i in range(config.num_key_value_layers, config.num_hidden_layers):
        attn = model.model.layers[i].self_attn
        for proj in ("q_proj_swiftkv", "k_proj_swiftkv", "v_proj_swiftkv"):
            module = getattr(attn, proj, None)
            if module is None:
                continue
            names.append(f"model.layers.{i}.self_attn.{proj}.weight")
            if module.bias is not None:
                names.append(f"model.layers.{i}.self_attn.{proj}.bias")
    return names


def micro_batch_loss(model, sequences, settings):
    """KL (summed over counted rows, divided by all rows) + mult * MSE over the packed batch."""
    temp = settings["temperature"]
    kl_sum = torch.zeros((), dtype=torch.float64)
    teacher_last, student_last = [], []
    rows = 0
    for seq in sequences:
        ids = torch.tensor(seq["tokens"])
        mask = torch.tensor(seq["mask"], dtype=torch.float32)
        if not settings["mask_inputs"]:
            mask = torch.ones_like(mask)
        with torch.no_grad():
            teacher_hidden = []
            teacher_logits = model(ids, swiftkv=False, hidden_out=teacher_hidden)
        student_hidden = []
        student_logits = model(ids, swiftkv=True, hidden_out=student_hidden)
        log_pt = F.log_softmax(teacher_logits / temp, dim=-1)
        log_ps = F.log_softmax(student_logits / temp, dim=-1)
        kl_rows = (log_pt.exp() * (log_pt - log_ps)).sum(-1) * temp**2
        kl_sum = kl_sum + (kl_rows * mask).sum().to(torch.float64)
        teacher_last.append(teacher_hidden[-1])
        student_last.append(student_hidden[-1])
        rows += len(seq["tokens"])
    kl = kl_sum / rows
    mse = F.mse_loss(torch.cat(student_last), torch.cat(teacher_last))
    total = kl + settings["hidden_loss_mult"] * mse
    return total, kl, mse


def lr_lambda(step, total_steps, warmup_ratio):
    warmup = math.ceil(warmup_ratio * total_steps)
    if step < warmup:
        return step / max(1, warmup)
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup))


def run(name, checkpoint_dir, out_dir, seed):
    setup_determinism(1)
    torch.manual_seed(seed)
    with open(os.path.join(checkpoint_dir, "config.json")) as f:
        config = llama_config_from_dict(json.load(f))
    model = SwiftKVForCausalLM(config)
    state = load_file(os.path.join(checkpoint_dir, "model.safetensors"))
    model.load_state_dict(state, strict=False)
    model = model.to(torch.float32)
    names = trainable_names(model, config)
    params = dict(model.named_parameters())
    for param_name, param in params.items():
        param.requires_grad_(param_name in names)
    trainable = [params[n] for n in names]

    batches = make_batches(config.vocab_size, torch.Generator().manual_seed(seed))
    settings = dict(SETTINGS)
    optimizer = torch.optim.AdamW(trainable, lr=settings["lr"], betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    total_steps = settings["steps"]
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_lambda(step, total_steps, settings["warmup_ratio"])
    )

    first = None
    first_grads = None
    step_losses = []
    for step in range(total_steps):
        optimizer.zero_grad()
        step_loss = 0.0
        for index, sequences in enumerate(batches):
            total, kl, mse = micro_batch_loss(model, sequences, settings)
            (total / len(batches)).backward()
            step_loss += total.item() / len(batches)
            if step == 0 and index == 0:
                first = {"total": total.item(), "kl": kl.item(), "mse": mse.item()}
        if step == 0:
            writer = LogitsWriter(os.path.join(out_dir, f"{name}.grads.f32"))
            first_grads = {n: writer.append(params[n].grad.detach().flatten()) for n in names}
            writer.close()
        torch.nn.utils.clip_grad_norm_(trainable, settings["max_grad_norm"])
        optimizer.step()
        scheduler.step()
        step_losses.append(step_loss)

    golden = {
        "checkpoint": os.path.relpath(checkpoint_dir, GOLDEN_DIR),
        "settings": settings,
        "batches": batches,
        "first_micro_batch": first,
        "first_step_grads": first_grads,
        "step_losses": step_losses,
        "versions": version_info(),
    }
    write_json(os.path.join(out_dir, f"{name}.json"), golden)
    print(f"{name}: first loss {first['total']:.6f}, last step loss {step_losses[-1]:.6f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(GOLDEN_DIR, "distill"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, seed in (("tiny_g1", 11), ("tiny_g2", 12)):
        run(name, os.path.join(GOLDEN_DIR, "swiftkv", name), args.out, seed)


if __name__ == "__main__":
    main()
