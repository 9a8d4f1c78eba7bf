#!/usr/bin/env python3
"""Drives `swiftkv serve` with the official openai Python client.

Starts the server on 127.0.0.1 with a free port on stories260K (and on the
default SmolLM2 model for chat, because stories260K has no chat template),
then checks completions, chat, streaming, n > 1, logprobs, stop strings,
error statuses, the COMPLETE-style endpoint, and 32 concurrent streaming
clients of which some disconnect early. A second stories260K server has a
KV cache too small for its running requests. On it the test checks that
preemption keeps greedy outputs exact, that no request, KV block or memory
is lost over rounds of load, and that prefix caching works through the API.

Usage: openai_client_test.py SWIFTKV_BINARY REPO_ROOT [TEST_NAME ...]
Exits 77 (skipped) when the openai package is not installed in REPO_ROOT/.venv,
which scripts/setup.sh creates.
"""
import json
import os
import random
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

SKIP = 77


def reexec_in_venv(repo_root):
    """Runs this script with the project's venv, which has the pinned client."""
    try:
        import openai  # noqa: F401
        return
    except ImportError:
        pass
    venv_python = os.path.join(repo_root, ".venv", "bin", "python")
    if os.path.exists(venv_python) and not os.environ.get("SWIFTKV_TEST_IN_VENV"):
        os.environ["SWIFTKV_TEST_IN_VENV"] = "1"  # so a venv without openai skips instead of looping
        os.execv(venv_python, [venv_python] + sys.argv)
    print(f"SKIPPED: the openai package is not installed; run scripts/setup.sh to create {venv_python}")
    sys.exit(SKIP)


class Server:
    """A `swiftkv serve` process on a free loopback port."""

    def __init__(self, binary, model, extra_args=()):
        args = [binary, "serve", "-m", model, "--host", "127.0.0.1", "--port", "0",
                "--served-model-name", "test-model", *extra_args]
        self.process = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        self.log = []
        self.port = None
        deadline = time.monotonic() + 60
        while self.port is None:
            line = self.process.stderr.readline()
            if not line or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the server did not start:\n" + "".join(self.log))
            self.log.append(line)
            if "listening on http://127.0.0.1:" in line:
                self.port = int(line.split("127.0.0.1:")[1].split(",")[0])
        threading.Thread(target=self._drain, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.port}"
        wait_healthy(self.base_url)

    def _drain(self):
        for line in self.process.stderr:
            self.log.append(line)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_healthy(base_url, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(base_url + "/health", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{base_url}/health did not return 200 within {timeout} s")
        time.sleep(0.1)


def post(base_url, path, body):
    """Returns (status, parsed JSON body) of a POST."""
    request = urllib.request.Request(base_url + path, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class StoriesTest(unittest.TestCase):
    """Completions on stories260K (no chat template)."""

    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = Server(BINARY, STORIES, ["--weights", "f32", "--max-num-seqs", "8"])
        cls.client = openai.OpenAI(base_url=cls.server.base_url + "/v1", api_key="unused", max_retries=0,
                                   timeout=60)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def greedy(self, prompt, max_tokens=24):
        response = self.client.completions.create(model="test-model", prompt=prompt, max_tokens=max_tokens,
                                                  temperature=0)
        return response.choices[0].text

    def test_completion(self):
        response = self.client.completions.create(model="test-model", prompt="Once upon a time", max_tokens=16,
                                                  temperature=0)
        self.assertEqual(len(response.choices), 1)
        self.assertTrue(response.choices[0].text)
        self.assertEqual(response.choices[0].finish_reason, "length")
        self.assertEqual(response.usage.completion_tokens, 16)
        self.assertEqual(response.usage.total_tokens, response.usage.prompt_tokens + 16)

    def test_streaming_equals_whole(self):
        whole = self.greedy("Lily went to the park", 20)
        stream = self.client.completions.create(model="test-model", prompt="Lily went to the park", max_tokens=20,
                                                temperature=0, stream=True)
        chunks = list(stream)
        self.assertEqual("".join(c.choices[0].text for c in chunks), whole)
        self.assertEqual(chunks[-1].choices[0].finish_reason, "length")

    def test_n_choices_seeded(self):
        response = self.client.completions.create(model="test-model", prompt="The dog", max_tokens=12, n=3,
                                                  temperature=1.0, seed=7)
        self.assertEqual([c.index for c in response.choices], [0, 1, 2])
        self.assertEqual(response.usage.completion_tokens, 36)
        again = self.client.completions.create(model="test-model", prompt="The dog", max_tokens=12, n=3,
                                               temperature=1.0, seed=7)
        self.assertEqual([c.text for c in again.choices], [c.text for c in response.choices])
        # Choice i is seeded with seed + i, so the choices differ from each other.
        self.assertGreater(len({c.text for c in response.choices}), 1)
        single = self.client.completions.create(model="test-model", prompt="The dog", max_tokens=12,
                                                temperature=1.0, seed=8)
        self.assertEqual(single.choices[0].text, response.choices[1].text)

    def test_n_choices_streaming(self):
        stream = self.client.completions.create(model="test-model", prompt="The cat", max_tokens=10, n=2,
                                                temperature=0, stream=True)
        texts = {0: "", 1: ""}
        finished = set()
        for chunk in stream:
            for choice in chunk.choices:
                texts[choice.index] += choice.text
                if choice.finish_reason:
                    finished.add(choice.index)
        self.assertEqual(finished, {0, 1})
        whole = self.greedy("The cat", 10)
        self.assertEqual(texts[0], whole)
        self.assertEqual(texts[1], whole)

    def test_logprobs(self):
        response = self.client.completions.create(model="test-model", prompt="Once upon a time", max_tokens=6,
                                                  temperature=0, logprobs=3)
        logprobs = response.choices[0].logprobs
        self.assertEqual(len(logprobs.tokens), 6)
        self.assertEqual(len(logprobs.token_logprobs), 6)
        self.assertEqual(len(logprobs.text_offset), 6)
        self.assertEqual("".join(logprobs.tokens), response.choices[0].text)
        for token, logprob, top in zip(logprobs.tokens, logprobs.token_logprobs, logprobs.top_logprobs):
            self.assertLessEqual(logprob, 0.0)
            self.assertIn(token, top)
            # Greedy decoding picks the most likely token.
            self.assertAlmostEqual(max(top.values()), logprob, places=5)
        stream = self.client.completions.create(model="test-model", prompt="Once upon a time", max_tokens=6,
                                                temperature=0, logprobs=3, stream=True)
        streamed = [t for c in stream if c.choices and c.choices[0].logprobs for t in c.choices[0].logprobs.tokens]
        self.assertEqual(streamed, logprobs.tokens)

    def test_stop_string(self):
        whole = self.greedy("Once upon a time", 32)
        stop = whole[10:14]
        response = self.client.completions.create(model="test-model", prompt="Once upon a time", max_tokens=32,
                                                  temperature=0, stop=[stop])
        self.assertEqual(response.choices[0].text, whole[:whole.index(stop)])
        self.assertEqual(response.choices[0].finish_reason, "stop")
        stream = self.client.completions.create(model="test-model", prompt="Once upon a time", max_tokens=32,
                                                temperature=0, stop=[stop], stream=True)
        self.assertEqual("".join(c.choices[0].text for c in stream), whole[:whole.index(stop)])

    def test_error_statuses(self):
        with self.assertRaises(openai.BadRequestError) as caught:
            self.client.completions.create(model="test-model", prompt="x", max_tokens=4, logprobs=21)
        self.assertIn("logprobs", str(caught.exception))
        with self.assertRaises(openai.BadRequestError):
            self.client.completions.create(model="test-model", prompt="x", max_tokens=4, temperature=3)
        with self.assertRaises(openai.BadRequestError):
            self.client.completions.create(model="test-model", prompt="x", max_tokens=4, n=2, best_of=1)
        with self.assertRaises(openai.BadRequestError):
            self.client.completions.create(model="test-model", prompt="x", max_tokens=100000)
        with self.assertRaises(openai.NotFoundError):
            self.client.completions.create(model="other-model", prompt="x", max_tokens=4)
        with self.assertRaises(openai.BadRequestError):
            self.client.chat.completions.create(model="test-model", messages=[{"role": "user", "content": "hi"}])

    def test_complete_endpoint(self):
        status, body = post(self.server.base_url, "/v1/complete", {"model": "test-model", "prompt": "Once upon"})
        self.assertEqual(status, 200)
        self.assertIsInstance(body, str)
        status, body = post(self.server.base_url, "/v1/complete",
                            {"model": "test-model", "prompt": [{"role": "system", "content": "a"},
                                                               {"role": "system", "content": "b"}], "options": {}})
        self.assertEqual(status, 400)
        self.assertIn("system", body["error"]["message"])

    def test_concurrent_streams_with_disconnects(self):
        prompts = [f"Once upon a time there was a {word}" for word in
                   ["cat", "dog", "bird", "girl", "boy", "tree", "fish", "car"]]
        expected = {prompt: self.greedy(prompt, 40) for prompt in prompts}
        results = [None] * 32
        rng = random.Random(3)
        plans = [(prompts[i % len(prompts)], rng.random() < 0.25) for i in range(32)]

        def run(index):
            prompt, leave_early = plans[index]
            client = openai.OpenAI(base_url=self.server.base_url + "/v1", api_key="unused", max_retries=0,
                                   timeout=60)
            stream = client.completions.create(model="test-model", prompt=prompt, max_tokens=40, temperature=0,
                                               stream=True)
            text = ""
            for number, chunk in enumerate(stream):
                text += chunk.choices[0].text if chunk.choices else ""
                if leave_early and number == 2:
                    stream.close()
                    results[index] = "left"
                    return
            results[index] = text

        threads = [threading.Thread(target=run, args=(i,)) for i in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        self.assertFalse(any(thread.is_alive() for thread in threads), "a client did not finish within 60 s")
        for index, (prompt, leave_early) in enumerate(plans):
            if leave_early:
                self.assertEqual(results[index], "left")
            else:
                self.assertEqual(results[index], expected[prompt], f"client {index}")
        wait_healthy(self.server.base_url)
        self.assertEqual(self.greedy(prompts[0], 40), expected[prompts[0]])


def read_metrics(base_url):
    """Returns the unlabelled value of every sample in /metrics, by metric name."""
    with urllib.request.urlopen(base_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name_and_labels, value = line.rsplit(" ", 1)
            values[name_and_labels.split("{")[0]] = float(value)
    return values


def resident_kib(pid):
    """VmRSS of process `pid` in KiB, from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS line")


class PreemptionTest(unittest.TestCase):
    """Streaming load on a KV cache too small for the running requests.

    32 blocks of 16 tokens hold 512 positions, while each of the 16 running
    requests fills up to the context of 128 positions (8 blocks), so the
    scheduler must preempt and recompute. Greedy outputs must not change.
    A budget of 64 tokens per step also splits prompts into chunks, so a
    request can be preempted in the middle of its prompt.
    """

    BLOCK_SIZE = 16
    NUM_BLOCKS = 32
    NUM_CLIENTS = 32
    ROUNDS = 3
    # RSS may grow this much from the end of round 1 to the end of the last
    # round. Round 1 already touches every KV block, because preemption means
    # the pool ran dry, and grows the malloc arenas of the HTTP threads. Later
    # rounds run the same load, so what they add is allocator noise (about
    # 0.3 MiB measured). Rounds 2 and 3 run 64 requests, so the bound fails
    # a leak of more than 32 KiB per request, such as one request's K/V (up
    # to 8 blocks of 20 KiB) kept after it finished.
    RSS_GROWTH_BOUND_KIB = 2048

    @classmethod
    def setUpClass(cls):
        cls.server = Server(BINARY, STORIES, ["--weights", "f32", "--max-num-seqs", "16",
                                              "--block-size", str(cls.BLOCK_SIZE),
                                              "--num-gpu-blocks-override", str(cls.NUM_BLOCKS),
                                              "--max-num-batched-tokens", "64"])
        cls.client = openai.OpenAI(base_url=cls.server.base_url + "/v1", api_key="unused", max_retries=0,
                                   timeout=60)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def greedy(self, prompt, max_tokens):
        """(text, finish_reason) of one request alone, so never preempted."""
        response = self.client.completions.create(model="test-model", prompt=prompt, max_tokens=max_tokens,
                                                  temperature=0)
        return response.choices[0].text, response.choices[0].finish_reason

    def count_tokens(self, prompt):
        status, body = post(self.server.base_url, "/tokenize", {"prompt": prompt})
        self.assertEqual(status, 200, body)
        return body["count"]

    def wait_idle(self, timeout=15):
        """/metrics once no request runs or waits (disconnects are noticed late)."""
        deadline = time.monotonic() + timeout
        while True:
            metrics = read_metrics(self.server.base_url)
            if metrics["vllm:num_requests_running"] == 0 and metrics["vllm:num_requests_waiting"] == 0:
                return metrics
            if time.monotonic() > deadline:
                self.fail(f"requests still running or waiting {timeout} s after the clients finished: {metrics}")
            time.sleep(0.1)

    def run_clients(self, plans):
        """Streams every plan (prompt, max_tokens, chunks to read before leaving or None) in its own thread.

        Returns per client ("left", None) or (text, finish_reason)."""
        results = [None] * len(plans)
        # The clients send together, so their requests overlap even though
        # each one takes the tiny model only milliseconds.
        ready = threading.Barrier(len(plans), timeout=60)

        def run(index):
            prompt, max_tokens, leave_after = plans[index]
            with openai.OpenAI(base_url=self.server.base_url + "/v1", api_key="unused", max_retries=0,
                               timeout=60) as client:
                ready.wait()
                try:
                    results[index] = self.stream_one(client, prompt, max_tokens, leave_after)
                except openai.APIError as error:
                    results[index] = ("error", f"{type(error).__name__}: {error} ({error.__cause__!r})")

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(plans))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        self.assertFalse(any(thread.is_alive() for thread in threads), "a client did not finish within 60 s")
        return results

    @staticmethod
    def stream_one(client, prompt, max_tokens, leave_after):
        stream = client.completions.create(model="test-model", prompt=prompt, max_tokens=max_tokens, temperature=0,
                                           stream=True)
        with stream:
            if leave_after == 0:
                return "left", None
            text, finish_reason = "", None
            for number, chunk in enumerate(stream, 1):
                if chunk.choices:
                    text += chunk.choices[0].text
                    finish_reason = chunk.choices[0].finish_reason or finish_reason
                if number == leave_after:
                    return "left", None
            return text, finish_reason

    def test_preempting_load_is_exact_and_leaks_nothing(self):
        rng = random.Random(5)
        context = self.client.models.list().data[0].max_model_len  # 128 for stories260K
        preamble = "Tom and Sue lived in a small house by the sea. Every day they went to the beach to look for shells. "
        words = ["cat", "dog", "bird", "girl", "boy", "tree", "fish", "car", "ball", "cake", "frog", "sun"]
        plans = []
        for i in range(self.NUM_CLIENTS):
            # Odd clients share a preamble of several full blocks, so running
            # requests share prefix-cached blocks when one is preempted.
            prompt = (preamble if i % 2 else "") + f"Once upon a time there was a {words[i % len(words)]}"
            prompt += " who liked to play" * (i % 3)
            leave_after = rng.randint(0, 4) if rng.random() < 0.25 else None
            plans.append((prompt, rng.randint(40, context - self.count_tokens(prompt)), leave_after))
        self.assertTrue(any(leave is not None for _, _, leave in plans))
        expected = {(prompt, max_tokens): self.greedy(prompt, max_tokens) for prompt, max_tokens, _ in plans}
        self.assertEqual(read_metrics(self.server.base_url)["vllm:num_preemptions_total"], 0)

        resident, preemptions = [], [0.0]
        for round_number in range(1, self.ROUNDS + 1):
            results = self.run_clients(plans)
            for index, (prompt, max_tokens, leave_after) in enumerate(plans):
                text, finish_reason = results[index]
                if leave_after is not None:
                    self.assertEqual(text, "left")
                    continue
                self.assertIn(finish_reason, ("stop", "length"), f"round {round_number}, client {index}")
                self.assertEqual((text, finish_reason), expected[(prompt, max_tokens)],
                                 f"round {round_number}, client {index}")
            metrics = self.wait_idle()
            preemptions.append(metrics["vllm:num_preemptions_total"])
            self.assertGreater(preemptions[-1], preemptions[-2], f"round {round_number} preempted no request")
            # Blocks that only the prefix cache holds count as free, so an idle cache reads 0.
            self.assertEqual(metrics["vllm:kv_cache_usage_perc"], 0.0, f"round {round_number}")
            wait_healthy(self.server.base_url)
            resident.append(resident_kib(self.server.process.pid))
        growth = resident[-1] - resident[0]
        self.assertLessEqual(growth, self.RSS_GROWTH_BOUND_KIB,
                             f"resident memory grew by {growth} KiB after round 1 (KiB per round: {resident})")
        print(f"\n  preemptions after each round: {preemptions[1:]}, VmRSS (KiB): {resident}", file=sys.stderr)

    def test_prefix_cache_through_api(self):
        prompt = ("The little red hen found a grain of wheat in the farm yard. She asked the cat, the dog and the "
                  "pig who would help her plant it, and every one of them said no.")
        before = read_metrics(self.server.base_url)
        first = self.client.completions.create(model="test-model", prompt=prompt, max_tokens=8, temperature=0)
        middle = read_metrics(self.server.base_url)
        second = self.client.completions.create(model="test-model", prompt=prompt, max_tokens=8, temperature=0)
        after = read_metrics(self.server.base_url)
        prompt_tokens = first.usage.prompt_tokens
        self.assertGreater(prompt_tokens, 2 * self.BLOCK_SIZE)
        self.assertEqual(second.choices[0].text, first.choices[0].text)
        self.assertEqual(middle["vllm:prefix_cache_hits_total"], before["vllm:prefix_cache_hits_total"])
        # Every full block of the prompt is reused except one that would hold
        # the last prompt token, which is computed again to get its logits.
        cached_tokens = (prompt_tokens - 1) // self.BLOCK_SIZE * self.BLOCK_SIZE
        self.assertEqual(after["vllm:prefix_cache_hits_total"] - middle["vllm:prefix_cache_hits_total"],
                         cached_tokens)
        self.assertEqual(after["vllm:prefix_cache_queries_total"] - middle["vllm:prefix_cache_queries_total"],
                         prompt_tokens)


class ChatTest(unittest.TestCase):
    """Chat on SmolLM2-135M-Instruct, which has a chat template."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server(BINARY, SMOLLM2, ["--ctx-size", "512"])
        cls.client = openai.OpenAI(base_url=cls.server.base_url + "/v1", api_key="unused", max_retries=0,
                                   timeout=60)
        cls.messages = [{"role": "user", "content": "What is the capital of France?"}]

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_chat_and_stream(self):
        response = self.client.chat.completions.create(model="test-model", messages=self.messages, max_tokens=8,
                                                       temperature=0)
        text = response.choices[0].message.content
        self.assertTrue(text)
        self.assertEqual(response.choices[0].message.role, "assistant")
        stream = self.client.chat.completions.create(model="test-model", messages=self.messages, max_tokens=8,
                                                     temperature=0, stream=True,
                                                     stream_options={"include_usage": True})
        chunks = list(stream)
        self.assertEqual("".join(c.choices[0].delta.content or "" for c in chunks if c.choices), text)
        self.assertEqual(chunks[-1].usage.completion_tokens, response.usage.completion_tokens)

    def test_chat_logprobs_and_n(self):
        response = self.client.chat.completions.create(model="test-model", messages=self.messages, max_tokens=4,
                                                       temperature=0, logprobs=True, top_logprobs=2, n=2)
        self.assertEqual(len(response.choices), 2)
        content = response.choices[0].logprobs.content
        self.assertEqual(len(content), response.usage.completion_tokens // 2)
        for entry in content:
            self.assertEqual(len(entry.top_logprobs), 2)
            self.assertEqual(bytes(entry.bytes).decode("utf-8", "replace"), entry.token)
            self.assertAlmostEqual(entry.top_logprobs[0].logprob, entry.logprob, places=5)
        with self.assertRaises(openai.BadRequestError):
            self.client.chat.completions.create(model="test-model", messages=self.messages, max_tokens=4,
                                                top_logprobs=2)

    def test_complete_history(self):
        status, body = post(self.server.base_url, "/v1/complete",
                            {"model": "test-model", "prompt": [{"role": "system", "content": "Be brief."},
                                                               {"role": "user", "content": "Hi"}],
                             "options": {"max_tokens": 5, "temperature": 0}})
        self.assertEqual(status, 200, body)
        self.assertIsInstance(body["choices"][0]["messages"], str)
        self.assertEqual(body["model"], "test-model")
        self.assertEqual(body["usage"]["total_tokens"],
                         body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"])


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    BINARY, REPO_ROOT = sys.argv[1], sys.argv[2]
    reexec_in_venv(REPO_ROOT)
    import openai
    STORIES = os.path.join(REPO_ROOT, "..", "shared", "models", "stories260K", "stories260Ktok512.gguf")
    SMOLLM2 = os.path.join(REPO_ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
    for path in (STORIES, SMOLLM2):
        if not os.path.exists(path):
            sys.exit(f"error: model {path} not found; run scripts/setup.sh (and check ../shared beside the repo)")
    del sys.argv[1:3]  # what follows names the tests to run, as unittest takes them
    unittest.main(verbosity=2)
