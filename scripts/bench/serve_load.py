#!/usr/bin/env python3
"""Load generator for a running `swiftkv serve` on the loopback interface.

Sends a bounded number of streaming /v1/completions requests with Poisson
arrivals at a given rate. By default each prompt is about 10 times longer than
the output (long prompts, short answers, as in production SwiftKV serving), and
`ignore_eos` makes every request generate exactly --output-tokens tokens.
Prints, as a table or JSON:

- TTFT: time to first token (request sent to first streamed text)
- TPOT: time per output token after the first, (e2e - TTFT) / (tokens - 1)
- ITL:  inter-token latency, the gap between consecutive streamed tokens
- E2E:  end-to-end latency of each request
- request and output-token throughput over the whole run

Example, SwiftKV on and off on the same checkpoint (two servers):
  swiftkv serve -m MODEL --port 8000 &
  scripts/bench/serve_load.py --port 8000 --rate 2 --num-requests 100
  swiftkv serve -m MODEL --no-swiftkv --port 8001 &
  scripts/bench/serve_load.py --port 8001 --rate 2 --num-requests 100

Uses only the Python standard library.
"""
import argparse
import http.client
import json
import random
import statistics
import sys
import threading
import time

WORDS = ("the cat sat on a mat and looked at the small dog who ran to the park with a red ball "
         "while birds sang in tall green trees under a bright warm sun").split()


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="server address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="server port (default 8000)")
    parser.add_argument("--model", default="", help="model id to send; empty sends none (the served model)")
    parser.add_argument("--api-key", default="", help="sent as 'Authorization: Bearer KEY' when set")
    parser.add_argument("--num-requests", type=int, default=50, help="number of requests (default 50)")
    parser.add_argument("--rate", type=float, default=1.0,
                        help="mean arrivals per second of the Poisson process; 0 sends all at once (default 1)")
    parser.add_argument("--prompt-tokens", type=int, default=2000, help="prompt length in tokens (default 2000)")
    parser.add_argument("--output-tokens", type=int, default=200, help="tokens generated per request (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the arrival times and prompts (default 0)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before a request fails (default 600)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error(f"--host {args.host}: this generator only targets a server on the loopback interface")
    for name in ("num_requests", "prompt_tokens", "output_tokens"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.rate < 0:
        parser.error("--rate must be >= 0")
    return args


def make_prompt(args, rng):
    """Returns the token ids of a random-word prompt of exactly --prompt-tokens tokens.

    Random words make prompts that share no long prefix. The server's
    /tokenize turns them into ids; every word is at least one token, so
    --prompt-tokens words are enough and the ids are cut to length.
    """
    text = " ".join(rng.choice(WORDS) for _ in range(args.prompt_tokens))
    body = {"prompt": text}
    if args.model:
        body["model"] = args.model
    connection = http.client.HTTPConnection(args.host, args.port, timeout=60)
    connection.request("POST", "/tokenize", json.dumps(body), request_headers(args))
    response = connection.getresponse()
    payload = response.read()
    if response.status != 200:
        sys.exit(f"error: /tokenize returned HTTP {response.status}: {payload[:200]!r}; is swiftkv serve running "
                 f"on {args.host}:{args.port}?")
    return json.loads(payload)["tokens"][:args.prompt_tokens]


def request_headers(args):
    headers = {"Content-Type": "application/json"}
    if args.api_key:
        headers["Authorization"] = "Bearer " + args.api_key
    return headers


class Result:
    def __init__(self):
        self.error = ""
        self.ttft = None
        self.e2e = None
        self.token_times = []  # seconds from the send, one per streamed chunk with text
        self.output_tokens = 0


def run_request(args, prompt, result):
    body = {"prompt": prompt, "max_tokens": args.output_tokens, "temperature": 0, "stream": True,
            "ignore_eos": True, "stream_options": {"include_usage": True}}
    if args.model:
        body["model"] = args.model
    headers = request_headers(args)
    start = time.perf_counter()
    try:
        connection = http.client.HTTPConnection(args.host, args.port, timeout=args.timeout)
        connection.request("POST", "/v1/completions", json.dumps(body), headers)
        response = connection.getresponse()
        if response.status != 200:
            result.error = f"HTTP {response.status}: {response.read()[:200]!r}"
            return
        for raw in response:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            if "error" in event:
                result.error = event["error"].get("message", "error event")
                return
            if event.get("usage"):
                result.output_tokens = event["usage"]["completion_tokens"]
            for choice in event.get("choices", []):
                if choice.get("text"):
                    result.token_times.append(time.perf_counter() - start)
        result.e2e = time.perf_counter() - start
        result.ttft = result.token_times[0] if result.token_times else result.e2e
        connection.close()
    except (OSError, http.client.HTTPException, json.JSONDecodeError) as error:
        result.error = f"{type(error).__name__}: {error}"


def percentiles(values):
    if not values:
        return {}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return {"mean": statistics.fmean(ordered), "p50": pick(0.50), "p90": pick(0.90), "p99": pick(0.99),
            "max": ordered[-1]}


def summarize(args, results, duration):
    done = [r for r in results if not r.error]
    ttft = [r.ttft for r in done]
    e2e = [r.e2e for r in done]
    tpot = [(r.e2e - r.ttft) / (r.output_tokens - 1) for r in done if r.output_tokens > 1]
    itl = [b - a for r in done for a, b in zip(r.token_times, r.token_times[1:])]
    tokens = sum(r.output_tokens for r in done)
    return {
        "settings": {"num_requests": args.num_requests, "rate": args.rate, "prompt_tokens": args.prompt_tokens,
                     "output_tokens": args.output_tokens, "seed": args.seed},
        "completed": len(done),
        "failed": len(results) - len(done),
        "errors": sorted({r.error for r in results if r.error})[:5],
        "duration_s": duration,
        "request_throughput": len(done) / duration,
        "output_token_throughput": tokens / duration,
        "ttft_s": percentiles(ttft),
        "tpot_s": percentiles(tpot),
        "itl_s": percentiles(itl),
        "e2e_s": percentiles(e2e),
    }


def print_table(summary):
    s = summary["settings"]
    print(f"{summary['completed']} of {s['num_requests']} requests completed ({summary['failed']} failed) "
          f"in {summary['duration_s']:.1f} s; rate {s['rate']}/s, {s['prompt_tokens']} prompt tokens, "
          f"{s['output_tokens']} output tokens")
    for error in summary["errors"]:
        print(f"  error: {error}")
    print(f"request throughput: {summary['request_throughput']:.3f} requests/s")
    print(f"output throughput:  {summary['output_token_throughput']:.1f} tokens/s")
    print(f"{'metric (ms)':<12}{'mean':>10}{'p50':>10}{'p90':>10}{'p99':>10}{'max':>10}")
    for name in ("ttft_s", "tpot_s", "itl_s", "e2e_s"):
        row = summary[name]
        if row:
            cells = "".join(f"{row[k] * 1000:>10.1f}" for k in ("mean", "p50", "p90", "p99", "max"))
            print(f"{name[:-2].upper():<12}{cells}")


def main():
    args = parse_args()
    rng = random.Random(args.seed)
    try:
        prompts = [make_prompt(args, rng) for _ in range(args.num_requests)]
    except OSError as error:
        sys.exit(f"error: cannot reach {args.host}:{args.port} ({error}); start swiftkv serve first")
    results = [Result() for _ in prompts]
    threads = []
    start = time.perf_counter()
    for prompt, result in zip(prompts, results):
        thread = threading.Thread(target=run_request, args=(args, prompt, result), daemon=True)
        thread.start()
        threads.append(thread)
        if args.rate > 0:
            time.sleep(rng.expovariate(args.rate))
    for thread in threads:
        thread.join(timeout=args.timeout)
    duration = time.perf_counter() - start
    summary = summarize(args, results, duration)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_table(summary)
    return 0 if summary["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
