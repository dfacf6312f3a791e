#!/usr/bin/env bash
# Checks that native libraries load on 16 KB-page devices: every LOAD segment of each 64-bit
# .so (given directly, or inside an .apk/.aab) is aligned to at least 16 KB. Changes nothing.
# Usage: android/check-page-size.sh FILE.so|FILE.apk|FILE.aab|DIR ...   (exit 1 if any is not)
set -euo pipefail

readelf_bin=""
for candidate in "${ANDROID_NDK_HOME:-/nonexistent}"/toolchains/llvm/prebuilt/*/bin/llvm-readelf llvm-readelf readelf; do
  if command -v "$candidate" >/dev/null 2>&1; then readelf_bin="$candidate"; break; fi
done
[ -n "$readelf_bin" ] || { echo "check-page-size.sh: needs llvm-readelf (NDK) or readelf" >&2; exit 2; }
[ "$#" -gt 0 ] || { echo "usage: android/check-page-size.sh FILE.so|FILE.apk|FILE.aab|DIR ..." >&2; exit 2; }

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
bad=0
checked=0

check_so() { # path, name to report
  local class header
  if ! header=$("$readelf_bin" -h "$1" 2>/dev/null); then
    echo "not an ELF file: $2"
    bad=1
    return 0
  fi
  class=$(echo "$header" | sed -n 's/^ *Class: *//p')
  # 32-bit ABIs (armeabi-v7a, x86) never run with 16 KB pages.
  [ "$class" = ELF64 ] || return 0
  checked=$((checked + 1))
  local smallest
  smallest=$("$readelf_bin" -lW "$1" | awk '$1 == "LOAD" { print $NF }' | while read -r align; do
    echo $((align))
  done | sort -n | head -n 1)
  if [ -z "$smallest" ] || [ "$smallest" -lt 16384 ]; then
    echo "NOT 16 KB aligned (LOAD alignment ${smallest:-none}): $2"
    bad=1
  else
    echo "ok (LOAD alignment $smallest): $2"
  fi
}

for arg in "$@"; do
  case "$arg" in
    *.apk|*.aab)
      dir="$scratch/$(basename "$arg")"
      mkdir -p "$dir"
      # unzip where there is one (SDK machines), else the JDK's jar (this repository's CI).
      if command -v unzip >/dev/null; then
        unzip -q -o "$arg" '*.so' -d "$dir" 2>/dev/null || true
      else
        (cd "$dir" && jar xf "$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg")")
      fi
      while IFS= read -r so; do check_so "$so" "$arg!/${so#"$dir"/}"; done < <(find "$dir" -name '*.so' | sort)
      ;;
    *)
      if [ -d "$arg" ]; then
        while IFS= read -r so; do check_so "$so" "$so"; done < <(find "$arg" -name '*.so' | sort)
      else
        check_so "$arg" "$arg"
      fi
      ;;
  esac
done
[ "$checked" -gt 0 ] || { echo "check-page-size.sh: no 64-bit .so found in $*" >&2; exit 1; }
exit "$bad"
