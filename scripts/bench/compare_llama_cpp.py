#!/usr/bin/env python3
"""Compare prefill and decode tokens/s of swiftkv.cpp with llama.cpp.

llama.cpp runs through the PyPI package llama-cpp-python, at the version in
LLAMA_CPP_PYTHON_VERSION built from source for the CPU. It gets the same GGUF
file, prompt lengths and thread count as `swiftkv bench`, which this script
runs in the same session. Both sides get token ids, not text, so
tokenization is not timed.

Setup (once; the llama-cpp-python build takes 10+ minutes on 2 cores):

    python3 -m venv /tmp/benchenv
    CMAKE_ARGS="-DGGML_NATIVE=ON" /tmp/benchenv/bin/pip install llama-cpp-python==0.3.36

Run from the repository root after building build/swiftkv:

    /tmp/benchenv/bin/python scripts/bench/compare_llama_cpp.py --json /tmp/compare.json

What is timed on the llama.cpp side:
- prefill: one Llama.eval() of the whole prompt on an empty KV cache
  (n_batch = n_ubatch = the prompt length, so it is one forward);
- decode: single-token Llama.eval() calls after a prefill of `context` tokens
  (batch 1), tokens/s = steps / time. No sampling is timed on either side.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

LLAMA_CPP_PYTHON_VERSION = "0.3.36"


def parse_sizes(text):
    return [int(part) for part in text.split(",") if part]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gguf", default="models/SmolLM2-135M-Instruct.Q4_1.gguf", help="GGUF model both engines run")
    parser.add_argument("--swiftkv-binary", default="build/swiftkv", help="path of the swiftkv executable")
    parser.add_argument("--prompt-lengths", type=parse_sizes, default=[128, 512, 2048],
                        help="comma-separated prompt lengths in tokens; decode uses them as contexts")
    parser.add_argument("--decode-steps", type=int, default=32, help="decode steps in one timed run")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for both engines")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement; the median is reported")
    parser.add_argument("--weights", default="auto", choices=["auto", "f32", "bf16", "int8", "q4"],
                        help="swiftkv weight format (llama.cpp keeps the GGUF's own quantization)")
    parser.add_argument("--llama-cpp-extra-buffers", action="store_true",
                        help="let llama.cpp repack weights into its extra buffer types (AMX, repack); "
                             "off by default because its AMX matmul crashed on our Sapphire Rapids machine")
    parser.add_argument("--json", help="write both engines' numbers and the ratios to this file")
    return parser.parse_args()


def truncate_kv_cache(llm, length):
    """Keeps positions [0, length) of llama.cpp's KV cache for the next eval."""
    # Llama.eval() removes cached positions >= n_tokens before it decodes
    # (llama-cpp-python 0.3.36), so the next eval continues at `length`.
    llm.n_tokens = length


def disable_extra_buffer_types(llama_cpp):
    """Loads models with llama_model_params.use_extra_bufts = false.

    With llama-cpp-python 0.3.36 built with GGML_NATIVE on a CPU with AMX,
    every eval of two or more tokens segfaulted in ggml_backend_amx_mul_mat.
    Without extra buffer types llama.cpp runs its AVX-512 kernels on the
    GGUF's blocks.
    Llama.__init__ takes its model parameters from
    llama_cpp.llama_cpp.llama_model_default_params(), so that is wrapped.
    """
    library = llama_cpp.llama_cpp
    default_params = library.llama_model_default_params

    def params_without_extra_buffers():
        params = default_params()
        params.use_extra_bufts = False
        return params

    library.llama_model_default_params = params_without_extra_buffers


def median_seconds(repeat, run):
    run()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_llama_cpp(args):
    import llama_cpp

    if llama_cpp.__version__ != LLAMA_CPP_PYTHON_VERSION:
        print(f"warning: llama-cpp-python {llama_cpp.__version__} is installed; the pinned version is "
              f"{LLAMA_CPP_PYTHON_VERSION}", file=sys.stderr)
    if not args.llama_cpp_extra_buffers:
        disable_extra_buffer_types(llama_cpp)
    max_prompt = max(args.prompt_lengths)
    llm = llama_cpp.Llama(model_path=args.gguf, n_ctx=max_prompt + args.decode_steps + 8, n_batch=max_prompt,
                          n_ubatch=max_prompt, n_threads=args.threads, n_threads_batch=args.threads,
                          verbose=False)
    rng = random.Random(0)
    vocab = llm.n_vocab()
    results = {"version": llama_cpp.__version__, "extra_buffers": args.llama_cpp_extra_buffers,
               "prefill": {}, "decode": {}}
    for length in args.prompt_lengths:
        tokens = [rng.randrange(vocab) for _ in range(length)]

        def prefill():
            truncate_kv_cache(llm, 0)
            llm.eval(tokens)

        prefill_seconds = median_seconds(args.repeat, prefill)
        results["prefill"][length] = length / prefill_seconds

        # The timed decode steps rewrite the same positions on every run.
        steps = [rng.randrange(vocab) for _ in range(args.decode_steps)]

        def decode():
            truncate_kv_cache(llm, length)
            for token in steps:
                llm.eval([token])

        prefill()
        decode_seconds = median_seconds(args.repeat, decode)
        results["decode"][length] = args.decode_steps / decode_seconds
        print(f"llama.cpp {length}: prefill {results['prefill'][length]:.1f} tokens/s, "
              f"decode {results['decode'][length]:.1f} tokens/s", file=sys.stderr)
    return results


def bench_swiftkv(args):
    with tempfile.TemporaryDirectory() as tmp:
        json_path = os.path.join(tmp, "swiftkv.json")
        lengths = ",".join(str(length) for length in args.prompt_lengths)
        command = [args.swiftkv_binary, "bench", "-m", args.gguf, "--prompt-lengths", lengths,
                   "--prefill-batch-sizes", "1", "--batch-sizes", "1", "--contexts", lengths,
                   "--decode-steps", str(args.decode_steps), "--repeat", str(args.repeat),
                   "--weights", args.weights, "-t", str(args.threads), "--json", json_path]
        print("running: " + " ".join(command), file=sys.stderr)
        subprocess.run(command, check=True, stdout=sys.stderr)
        with open(json_path) as f:
            report = json.load(f)
    return {
        "weights": report["weights"],
        "ceilings": report["ceilings"],
        "prefill": {row["prompt_length"]: row["tokens_per_s"] for row in report["prefill"]},
        "decode": {row["context"]: row["tokens_per_s"] for row in report["decode"]},
    }


def main():
    args = parse_args()
    if not os.path.exists(args.gguf):
        sys.exit(f"error: GGUF file '{args.gguf}' not found; run scripts/fetch_model.sh or pass --gguf")
    if not os.path.exists(args.swiftkv_binary):
        sys.exit(f"error: '{args.swiftkv_binary}' not found; build it with scripts/build.sh or pass --swiftkv-binary")

    ours = bench_swiftkv(args)
    theirs = bench_llama_cpp(args)

    print(f"\n{args.gguf}, {args.threads} threads; swiftkv {ours['weights']} weights, "
          f"llama.cpp {theirs['version']} on the GGUF's own quantization")
    print(f"{'prompt':>7} {'prefill tok/s':>14} {'llama.cpp':>10} {'ratio':>7} "
          f"{'decode tok/s':>13} {'llama.cpp':>10} {'ratio':>7}")
    rows = []
    for length in args.prompt_lengths:
        row = {
            "prompt_length": length,
            "swiftkv_prefill_tokens_per_s": ours["prefill"][length],
            "llama_cpp_prefill_tokens_per_s": theirs["prefill"][length],
            "prefill_ratio": ours["prefill"][length] / theirs["prefill"][length],
            "swiftkv_decode_tokens_per_s": ours["decode"][length],
            "llama_cpp_decode_tokens_per_s": theirs["decode"][length],
            "decode_ratio": ours["decode"][length] / theirs["decode"][length],
        }
        rows.append(row)
        print(f"{length:>7} {row['swiftkv_prefill_tokens_per_s']:>14.1f} {row['llama_cpp_prefill_tokens_per_s']:>10.1f} "
              f"{row['prefill_ratio']:>6.2f}x {row['swiftkv_decode_tokens_per_s']:>13.1f} "
              f"{row['llama_cpp_decode_tokens_per_s']:>10.1f} {row['decode_ratio']:>6.2f}x")
    print("ratio = swiftkv / llama.cpp; decode is batch 1 with the prompt length as context")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"gguf": args.gguf, "threads": args.threads, "decode_steps": args.decode_steps,
                       "repeat": args.repeat, "swiftkv_weights": ours["weights"],
                       "llama_cpp_python": theirs["version"], "llama_cpp_extra_buffers": theirs["extra_buffers"],
                       "rows": rows}, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
