#!/usr/bin/env bash
# fuzz/build.sh -- builds every fuzz harness the way OSS-Fuzz builds a project: the compilers and
# flags come from $CC, $CXX, $CFLAGS and $CXXFLAGS, the fuzzing engine from $LIB_FUZZING_ENGINE
# (a link flag or library: -fsanitize=fuzzer for libFuzzer, an AFL++ driver, a standalone
# reproducer), and $OUT receives each harness with its seed corpus (NAME_seed_corpus.zip) and
# dictionary (NAME.dict). Under OSS-Fuzz, $SANITIZER picks the sanitizer and is already part of
# $CXXFLAGS; this script adds nothing of its own to the flags.
#
# Outside OSS-Fuzz every variable has a default: clang with libFuzzer, ASan and UBSan, -O1, into
# build-fuzz/ (meson build folder) and build-fuzz/out/. tools/test's fuzz stage uses it so.
#
# Needs: clang (Debian's clang-14 and libfuzzer-14-dev), meson, ninja, and the libraries of the
# parts the harnesses link (libfmt-dev, libtomlplusplus-dev, wolfSSL). Run from anywhere.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)

: "${CC:=clang}"
: "${CXX:=clang++}"
# -fno-sanitize-recover: a UBSan finding is a crash the fuzzer reports, not a log line.
default_flags="-O1 -g1 -fno-omit-frame-pointer -fsanitize=address,undefined"
default_flags+=" -fno-sanitize-recover=undefined -fsanitize=fuzzer-no-link"
: "${CFLAGS:=$default_flags}"
: "${CXXFLAGS:=$default_flags}"
: "${LIB_FUZZING_ENGINE:=-fsanitize=fuzzer}"
: "${WORK:=$src/build-fuzz}"
: "${OUT:=$WORK/out}"

# The tls harness links wolfSSL. Under OSS-Fuzz ($SRC set) the Dockerfile installs Debian's
# libwolfssl-dev; elsewhere it is the one the project builds from Debian's source package.
if [ -z "${PKG_CONFIG_PATH:-}" ] && [ -z "${SRC:-}" ]; then
  PKG_CONFIG_PATH="$("$src/tools/build-wolfssl")/lib/pkgconfig"
  export PKG_CONFIG_PATH
fi

# The harnesses link their flags as OSS-Fuzz does ($CXX $CXXFLAGS ... $LIB_FUZZING_ENGINE): the
# sanitizer runtimes come from $CXXFLAGS at link time too. -Werror stays off: OSS-Fuzz's clang
# is newer than the one the project is checked with and may warn about new things.
options=(-Dfuzz=true "-Dfuzz_engine=$LIB_FUZZING_ENGINE" -Dbuildtype=plain -Dwerror=false
  -Dtests=false -Dbench=false "-Dcpp_args=$CXXFLAGS" "-Dcpp_link_args=$CXXFLAGS")
stamp="$WORK/.fuzz-build-options"
wanted="$CC $CXX ${options[*]} $PKG_CONFIG_PATH"
if [ ! -f "$WORK/build.ninja" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  rm -rf "$WORK"
  CC=$CC CXX=$CXX CFLAGS="" CXXFLAGS="" LDFLAGS="" PKG_CONFIG_PATH=$PKG_CONFIG_PATH meson setup "$WORK" "$src" "${options[@]}" \
    >/dev/null
  echo "$wanted" > "$stamp"
fi
ninja -C "$WORK" >"$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log" >&2; exit 1; }

# dictionary_of NAME: the dictionary a harness uses, if any.
dictionary_of() {
  case $1 in
    smtp_*) echo "$src/fuzz/dict/smtp.dict" ;;
    message_pass | mime_scanner) echo "$src/fuzz/dict/mime.dict" ;;
    *) [ -f "$src/fuzz/dict/$1.dict" ] && echo "$src/fuzz/dict/$1.dict" || true ;;
  esac
}

mkdir -p "$OUT"
for harness in "$WORK"/fuzz/*_fuzzer; do
  name=$(basename "$harness" _fuzzer)
  # Copied beside and renamed over: a harness that is running (a long run in the same $OUT)
  # keeps its file, where cp onto it fails with "Text file busy".
  cp "$harness" "$OUT/.${name}_fuzzer.new"
  mv "$OUT/.${name}_fuzzer.new" "$OUT/${name}_fuzzer"
  dictionary=$(dictionary_of "$name")
  [ -n "$dictionary" ] && cp "$dictionary" "$OUT/${name}_fuzzer.dict"
  if [ -d "$src/fuzz/corpus/$name" ]; then
    rm -f "$OUT/${name}_fuzzer_seed_corpus.zip"
    (cd "$src/fuzz/corpus/$name" && /usr/bin/python3 -m zipfile -c \
      "$OUT/${name}_fuzzer_seed_corpus.zip" .)
  fi
done
echo "fuzz harnesses in $OUT: $(cd "$OUT" && ls -- *_fuzzer | tr '\n' ' ')"
