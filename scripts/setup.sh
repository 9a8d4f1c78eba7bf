#!/usr/bin/env bash
# Installs the pinned Debian packages, fetches the default model and builds.
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

install_debian_packages
scripts/fetch_model.sh
scripts/build.sh
