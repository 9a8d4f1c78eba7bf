#!/usr/bin/env python3
"""Generate tokenizer goldens with Hugging Face `tokenizers`.

Writes tests/golden/tokenizer/{stories260k,smollm2}.json (texts, ids with and
without special tokens, HF decode) and stories260k_tokenizer.json.

- stories260K: transformers converts the GGUF tokenizer into a tokenizer.json
  (GGUFLlamaConverter, merges derived from scores). That file is committed.
- SmolLM2: transformers' GGUF conversion drops SmolLM2's Digits pre-tokenizer
  and sets BOS/EOS to <|im_start|>, so it is not a faithful reference. The
  script instead builds SmolLM2's published pipeline with the `tokenizers`
  API over the GGUF vocabulary and merges. That pipeline is Digits with
  individual_digits, then ByteLevel without a prefix space, a ByteLevel
  decoder, and no tokens added by add_special_tokens.

Usage (Python with tokenizers 0.22.1, transformers 4.57.1, gguf):
    python scripts/reference/gen_tokenizer_goldens.py [SMOLLM2_GGUF]
The SmolLM2 GGUF defaults to models/SmolLM2-135M-Instruct.Q4_1.gguf.
"""
import json
import os
import shutil
import sys
import tempfile

import gguf
import tokenizers
from tokenizers import decoders, models, pre_tokenizers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(ROOT, "tests", "golden", "tokenizer")
STORIES_GGUF = "/work/shared/models/stories260K/stories260Ktok512.gguf"


def test_texts():
    """About 230 strings that cover the hard cases of both tokenizers."""
    texts = [
        "", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\t\t x",
        "a", "A", "hello", "Hello world", " Hello world", "Hello  world", "Hello   world ",
        "Once upon a time", "Lily and Tom went to the park", "The quick brown fox jumps over the lazy dog.",
        "1", "12", "123", "1234", "12345", "3.14159", "1,000,000", "2024-01-31", "v1.2.3", "0x1F",
        "a1b2c3", "abc123def", "99 bottles", "-42", "+7", "1e-5", "٣٤٥", "Ⅻ", "½", "²",
        "Hello, world!", "What?!", "...", "--", "(a)", "[b]", "{c}", "<d>", "a/b\\c", "#include <stdio.h>",
        "x = y + z * 2;", "if (a && b) { return c; }", "def f(x):\n    return x", "SELECT * FROM t;",
        "I'm", "you're", "they've", "we'll", "he'd", "It's", "DON'T", "I'M", "'s", "''",
        "café", "naïve", "résumé", "Straße", "Ångström", "señor", "façade", "coöperate", "Ελληνικά", "Привет мир",
        "日本語", "中文字符", "한국어", "こんにちは世界", "你好，世界！", "東京タワー", "漢字かなカナ", "ภาษาไทย", "עברית", "العربية",
        "🙂", "😀😃😄", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "❤️", "Hi 🙂!", "🙂🙂 🙂", "a😀b", "✓ done",
        "<0xFF>", "<0x41>", "<0x0A>", "<0xZZ>", "<0x", "0xFF", "<<0x00>>", "\\x00", "\x7f", "\x01\x02",
        "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>", "<unk>", "<|im_start|>user\nHi<|im_end|>",
        "<s>Hello</s>", " <s> ", "<s><s>", "a<s>b", "x<|im_end|>y", "<|im_start|><|im_end|>", "<|im_start",
        "<s", "s>", "< s >", "<|IM_START|>", "<repo_name>", "<filename>",
        "\u00a0", "a\u00a0b", "\u2003", "a\u200bb", "\u3000", "\ufeff", "\u2581", "\u2581\u2581x", "▁hello", "Ġhello",
        "tab\tseparated\tvalues", "line1\nline2\nline3", "trailing space ", " leading", "  two leading",
        "many     spaces", "\n\n\nthree newlines", "mixed \t\n whitespace", "end\n", "   \n\n   ",
        "ÀÁÂÃÄÅ", "ﬁ", "Ω", "µ", "ℌ", "Å", "é", "e\u0301", "n\u0303", "\u0301",
        "😀" * 5, "é" * 10, "ab" * 20, "the " * 15, "\n" * 6, " " * 17, "-" * 30, "=" * 8, "1" * 25, "中" * 12,
        "HTTP/1.1 200 OK", "https://example.com/a?b=c&d=e", "user@example.com", "C:\\Users\\x", "$100", "€50", "£3", "¥1000", "100%", "#hashtag",
        "CamelCaseWord", "snake_case_word", "kebab-case-word", "ALLCAPS", "MiXeD", "iPhone", "e.g.", "i.e.", "Mr. Smith", "U.S.A.",
        "The cat sat.", "She said, \"Hi.\"", "'quoted'", "«guillemets»", "„Anführung“", "—em dash—", "–en–", "…", "•bullet", "·",
        "Ünïcödé tèxt wïth äccents", "Wörter und Sätze", "Ça va?", "¿Qué tal?", "¡Hola!", "Œuvre", "Ææ", "Øresund", "ł", "İstanbul",
        "math: ∑ x_i ∈ ℝ", "∞", "≠≤≥", "→←↑↓", "♠♥♦♣", "©®™", "°C", "±", "×÷", "√2",
        "Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine.",
        "Tom and Sam were best friends. They liked to run, jump and play ball together every day!",
        "The 3 little pigs built 3 houses: one of straw, one of sticks, and one of bricks.",
        "Hello\tworld\n\nThis is a test.  Two spaces.   Three.\n",
        "def main():\n\tprint('hello')\n\treturn 0\n",
        "混合 mixed テキスト text 123 🙂 café!",
        "Emoji 👍 in the middle of text, and 日本語 too.",
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
        "A long line with many different tokens: alpha, beta, gamma, delta, epsilon, zeta, eta, theta, iota, kappa, lambda, mu.",
        "Numbers 0 1 2 3 4 5 6 7 8 9 10 100 1000 10000 100000 and words between them",
        "Ends with punctuation!!!", "Question??", "a,b,c", "a;b:c", "x_y_z", "__init__", "@decorator", "`code`", "**bold**", "~tilde~",
    ]
    long_mixed = " ".join(texts[10:60]) + "\n" + "".join(texts[70:100])
    texts.append(long_mixed)
    return texts


def read_gguf_vocab(path):
    reader = gguf.GGUFReader(path)
    fields = reader.fields

    def strings(key):
        field = fields[key]
        return [bytes(field.parts[i]).decode("utf-8") for i in field.data]

    def ints(key):
        field = fields[key]
        return [int(field.parts[i][0]) for i in field.data]

    return strings("tokenizer.ggml.tokens"), strings("tokenizer.ggml.merges"), ints("tokenizer.ggml.token_type")


def smollm2_tokenizer(gguf_path):
    tokens, merges, types = read_gguf_vocab(gguf_path)
    vocab = {token: i for i, token in enumerate(tokens)}
    pairs = [tuple(m.split(" ", 1)) for m in merges]
    tok = tokenizers.Tokenizer(models.BPE(vocab=vocab, merges=pairs, unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    control = [tokenizers.AddedToken(tokens[i], special=True, normalized=False)
               for i, t in enumerate(types) if t == 3]
    tok.add_special_tokens(control)
    return tok


def stories_tokenizer(work_dir):
    # transformers' GGUF loader refuses to run without torch although only
    # metadata is read for a tokenizer (return_tensors=False), so the check
    # is bypassed here. Torch is not needed for this path.
    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    gguf_utils.is_torch_available = lambda: True
    from transformers import AutoTokenizer

    shutil.copy(STORIES_GGUF, work_dir)
    fast = AutoTokenizer.from_pretrained(work_dir, gguf_file=os.path.basename(STORIES_GGUF))
    return fast.backend_tokenizer


def golden(tok, texts, special_subset):
    cases = []
    for i, text in enumerate(texts):
        ids = tok.encode(text, add_special_tokens=False).ids
        case = {"text": text, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False),
                "decoded_skip_special": tok.decode(ids, skip_special_tokens=True)}
        if i % special_subset == 0:
            case["ids_with_special"] = tok.encode(text, add_special_tokens=True).ids
        cases.append(case)
    return cases


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=1)
        f.write("\n")


def main():
    smol_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
    os.makedirs(OUT_DIR, exist_ok=True)
    texts = test_texts()
    with tempfile.TemporaryDirectory() as work_dir:
        stories = stories_tokenizer(work_dir)
        stories.save(os.path.join(OUT_DIR, "stories260k_tokenizer.json"))
        write_json(os.path.join(OUT_DIR, "stories260k.json"),
                   {"source": "stories260Ktok512.gguf via transformers 4.57.1 GGUF conversion",
                    "tokenizers_version": tokenizers.__version__, "cases": golden(stories, texts, 4)})
    smol = smollm2_tokenizer(smol_path)
    write_json(os.path.join(OUT_DIR, "smollm2.json"),
               {"source": "SmolLM2-135M-Instruct GGUF tables in the SmolLM2 pipeline",
                "tokenizers_version": tokenizers.__version__, "cases": golden(smol, texts, 4)})
    print(f"wrote {len(texts)} cases per tokenizer to {OUT_DIR}")


if __name__ == "__main__":
    main()
