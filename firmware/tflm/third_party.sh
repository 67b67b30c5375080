#!/usr/bin/env bash
# Prepares TFLM's sources for the firmware builds, once, under <out>:
#   <out>/src/<name>/     the upstream commits of firmware/tflm/third_party.lock, patched as
#                         TFLM's own download scripts patch them (flatbuffers.patch,
#                         kissfft.patch)
#   <out>/tree-<target>/  TFLM's create_tflm_tree.py output: host = reference kernels,
#                         m4 = Cortex-M4F with CMSIS-NN kernels
# Sources: the archives in $KWS_THIRD_PARTY (default: the first of ../shared/third_party and
# ../../shared/third_party from the repository root holding tflite-micro.tar.gz), checked
# against the lock's sha256; without archives, `git fetch` of each pinned commit (internet).
# Nothing here is committed: <out> is under build/.
#
#   firmware/tflm/third_party.sh <out> <host|m4>
set -euo pipefail

out=${1:?usage: third_party.sh <out> <host|m4>}
target=${2:?usage: third_party.sh <out> <host|m4>}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
lock="$here/third_party.lock"
case "$target" in
  host) opts="" ;;
  m4) opts="TARGET=cortex_m_generic TARGET_ARCH=cortex-m4+fp OPTIMIZED_KERNEL_DIR=cmsis_nn TARGET_TOOLCHAIN_ROOT=/usr/bin/" ;;
  *) echo "error: third_party.sh: target must be host or m4 (got '$target')" >&2; exit 2 ;;
esac
mkdir -p "$out/src"
out=$(cd "$out" && pwd)

archives=${KWS_THIRD_PARTY:-}
if [ -z "$archives" ]; then
  for d in "$root/../shared/third_party" "$root/../../shared/third_party"; do
    if [ -f "$d/tflite-micro.tar.gz" ]; then archives=$d; break; fi
  done
fi

fetch() {  # <name> <repo> <commit> <sha256>
  local name=$1 repo=$2 commit=$3 sha=$4 dest="$out/src/$1"
  [ -f "$dest/.kws-commit" ] && [ "$(cat "$dest/.kws-commit")" = "$commit" ] && return 0
  rm -rf "$dest" "$dest.tmp"
  mkdir -p "$dest.tmp"
  if [ -n "$archives" ]; then
    local tgz="$archives/$name.tar.gz"
    [ -f "$tgz" ] || { echo "error: $tgz: missing (KWS_THIRD_PARTY=$archives)" >&2; exit 1; }
    local got
    got=$(sha256sum "$tgz" | cut -d' ' -f1)
    [ "$got" = "$sha" ] || { echo "error: $tgz: sha256 $got, want $sha ($lock)" >&2; exit 1; }
    tar -xzf "$tgz" -C "$dest.tmp"
  else
    echo "third_party: fetching $repo at $commit" >&2
    git -C "$dest.tmp" init -q "$name.git"
    git -C "$dest.tmp/$name.git" fetch -q --depth 1 "$repo" "$commit" 2>/dev/null || {
      echo "error: $name: cannot fetch $repo at $commit (no network?): put the archives of $lock in a folder and set KWS_THIRD_PARTY=<folder> (../shared/third_party is found by itself)" >&2
      rm -rf "$dest.tmp"
      exit 1
    }
    git -C "$dest.tmp/$name.git" archive --prefix="$name/" FETCH_HEAD | tar -x -C "$dest.tmp"
    rm -rf "$dest.tmp/$name.git"
  fi
  mv "$dest.tmp/$name" "$dest"
  rmdir "$dest.tmp"
  case "$name" in  # the patches TFLM's download scripts apply
    flatbuffers) patch -s -p1 -d "$dest" < "$out/src/tflite-micro/tensorflow/lite/micro/tools/make/flatbuffers.patch" ;;
    kissfft) patch -s -p1 -d "$dest" < "$out/src/tflite-micro/third_party/kissfft/kissfft.patch" ;;
  esac
  echo "$commit" > "$dest/.kws-commit"
}

# tflite-micro first: the others' patches live in it.
grep -v '^#' "$lock" | sort -k1,1 -s | awk '$1 == "tflite-micro"' > "$out/.lock-first"
grep -v '^#' "$lock" | awk 'NF && $1 != "tflite-micro"' >> "$out/.lock-first"
while read -r name repo commit sha; do
  fetch "$name" "$repo" "$commit" "$sha"
done < "$out/.lock-first"
rm -f "$out/.lock-first"

tree="$out/tree-$target"
stamp="$tree/.kws-stamp"
want="$(sha256sum "$lock" | cut -d' ' -f1) $opts"
[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && exit 0

tflm="$out/src/tflite-micro"
dl="$tflm/tensorflow/lite/micro/tools/make/downloads"
mkdir -p "$dl/pigweed"
for name in flatbuffers gemmlowp kissfft ruy cmsis cmsis_nn; do
  ln -sfn "$out/src/$name" "$dl/$name"
done
rm -rf "$tree"
echo "third_party: TFLM tree for $target (create_tflm_tree.py)" >&2
start=$(date +%s)
# create_tflm_tree.py parses TFLM's Makefile five times, and every parse converts each
# example's and kernel test's models and audio to C arrays (generate_cc_arrays.py: 18 Python
# starts per parse, into TFLM's gen/) that a tree made without --examples never holds: 36 of
# the 37 s of tree-m4 on an idle machine. A python3 that skips that one script (and runs
# every other, e.g. specialize_files.py) makes the same tree (diff -r: identical, host and m4).
py=$(command -v python3)
shim="$out/.python3-shim"
mkdir -p "$shim"
# shellcheck disable=SC2016  # $1 and $@ belong to the shim
printf '#!/bin/sh\ncase "$1" in *generate_cc_arrays.py) exit 0 ;; esac\nexec "%s" "$@"\n' "$py" \
  > "$shim/python3"
chmod +x "$shim/python3"
(cd "$tflm" && PATH="$shim:$PATH" "$py" \
  tensorflow/lite/micro/tools/project_generation/create_tflm_tree.py \
  --makefile_options="$opts" "$tree" >/dev/null)
echo "$want" > "$stamp"
echo "third_party: tree-$target in $(( $(date +%s) - start )) s" >&2
