#!/usr/bin/env bash
# Configures and builds swiftkv into build/ (release build with debug info).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
ninja -C build -j"${SWIFTKV_BUILD_JOBS:-2}"
