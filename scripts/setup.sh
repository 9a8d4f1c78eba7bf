#!/usr/bin/env bash
# Installs the pinned Debian packages and the Python test venv, fetches the
# default model and builds.
# Safe to rerun: each step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

install_debian_packages() {
  local packages=() missing=()
  mapfile -t packages < <(grep -v '^#' scripts/debian-packages.txt | grep -v '^$')
  for entry in "${packages[@]}"; do
    local name="${entry%%=*}" version="${entry#*=}"
    if [[ "$(dpkg-query -W -f='${Version}' "$name" 2>/dev/null || true)" != "$version" ]]; then
      missing+=("$entry")
    fi
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    # A point release may have replaced a pinned version; take the current one.
    echo "setup: warning: pinned versions unavailable, installing the current ones" >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]%%=*}"
  fi
}

# The Python integration tests use the official openai client from a venv
# with pinned versions. Reinstalls only when the requirements changed.
setup_python_venv() {
  local requirements="tests/python/requirements.txt" stamp=".venv/requirements.installed"
  if [[ -f "$stamp" ]] && cmp -s "$requirements" "$stamp"; then
    return 0
  fi
  echo "setup: creating .venv with the packages in $requirements"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$stamp"
}

install_debian_packages
setup_python_venv
scripts/fetch_model.sh
scripts/build.sh
