#!/usr/bin/env bash
# Sets up everything, then sends the default model a chat-formatted question.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
./build/swiftkv generate -m models/SmolLM2-135M-Instruct.Q4_1.gguf --chat \
  -p "${1:-What is the capital of France? Answer in one sentence.}" -n 64
