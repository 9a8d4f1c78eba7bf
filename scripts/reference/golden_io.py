"""Shared helpers for the golden-value scripts in this folder.

Every script writes a JSON index plus one little-endian float32 binary file.
Each logits block in the index is {"offset_bytes", "rows", "cols"}: `rows`
consecutive rows of `cols` float32 values, row-major, starting at byte
`offset_bytes` of the binary file.
"""

import json
import os
import platform
import sys

import numpy as np
import torch

SMOLLM2_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


class LogitsWriter:
    """Appends float32 logits blocks to one binary file and returns their index entries."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.file = open(path, "wb")

    def append(self, logits):
        array = logits.detach().to(torch.float32).cpu().numpy()
        if array.ndim == 1:
            array = array[None, :]
        array = np.ascontiguousarray(array, dtype="<f4")
        entry = {"offset_bytes": self.offset, "rows": int(array.shape[0]), "cols": int(array.shape[1])}
        self.file.write(array.tobytes())
        self.offset += array.nbytes
        return entry

    def close(self):
        self.file.close()


def version_info():
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
    }


def write_json(path, data):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
        f.write("\n")


def top2_margin(logits):
    """Return top-1 minus top-2 logit of a 1-D logits vector as a Python float."""
    top = torch.topk(logits.to(torch.float32), 2).values
    return float(top[0] - top[1])


def setup_determinism(threads):
    """Pin torch to float32 math and a fixed thread count so reruns give the same values."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.backends.cuda.matmul.allow_tf32 = False


def load_smollm2(model_dir, gguf_name):
    """Load SmolLM2 from GGUF with transformers, dequantized to float32, eager attention."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not os.path.isfile(os.path.join(model_dir, gguf_name)):
        sys.exit(f"GGUF file not found: {os.path.join(model_dir, gguf_name)}; pass --model-dir and --gguf")
    tokenizer = AutoTokenizer.from_pretrained(model_dir, gguf_file=gguf_name)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, gguf_file=gguf_name, dtype=torch.float32, attn_implementation="eager"
    )
    model.eval()
    return tokenizer, model
