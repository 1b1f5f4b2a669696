# Shared helpers for scripts/guest-image and scripts/guest/*.sh (sourced, not run).
# Every image lands in $IMAGES/<name>-<hash>/, where <hash> covers every input that shapes it,
# so a cached image is reused only when nothing that built it changed.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${SWIFTHV_CACHE:-$HOME/.cache/swifthv}
IMAGES=$CACHE/images

say() { echo "guest-image: $*" >&2; }
die() { say "error: $*"; exit 1; }

# as_root CMD...: runs CMD as root (directly, or through sudo when we are not root).
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# need_pkgs PKG...: installs the Debian packages that are missing (apt-get, as root).
need_pkgs() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  say "installing ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

# pkg_version PKG: the installed version of a Debian package.
pkg_version() { dpkg-query -W -f='${Version}' "$1"; }

# content_hash FILE|STRING...: a short hash over files (by content) and literal strings.
content_hash() {
  local a
  for a in "$@"; do
    if [ -f "$a" ]; then printf 'file %s\n' "$(basename "$a")"; cat "$a"; else printf 'str %s\n' "$a"; fi
  done | sha256sum | cut -c1-16
}

# run_logged LOG LABEL CMD...: runs CMD with its output in LOG; on failure prints the log tail.
run_logged() {
  local log=$1 label=$2; shift 2
  if ! "$@" >>"$log" 2>&1; then
    say "$label failed; last lines of $log:"
    tail -n 40 "$log" >&2
    return 1
  fi
}

# publish TMPDIR FINALDIR: moves a finished image directory into place atomically.
publish() {
  chmod 755 "$1"
  rm -rf "$2"
  mv "$1" "$2"
}

# make_cpio DESC OUT: writes the uncompressed newc cpio described by DESC (gen_init_cpio's
# format). Directories, nodes and the files generated next to OUT get one fixed mtime (host
# files keep their package's), so equal inputs give byte-equal archives.
make_cpio() {
  find "$(dirname "$2")" -exec touch -h -d @1700000000 {} +
  "$(gen_init_cpio)" -t 1700000000 "$1" >"$2" || die "gen_init_cpio failed on $1"
}

# gen_init_cpio: path of the kernel's usr/gen_init_cpio, compiled from the linux-source tree
# (the kernel's own tool builds a newc cpio from a description file, no root needed).
gen_init_cpio() {
  local tool=$CACHE/tools/gen_init_cpio src
  if [ ! -x "$tool" ]; then
    src=$(linux_source_tree)/usr/gen_init_cpio.c
    mkdir -p "$CACHE/tools"
    gcc -O2 -o "$tool.$$.tmp" "$src" || die "cannot compile $src"
    mv "$tool.$$.tmp" "$tool"
  fi
  echo "$tool"
}

# linux_source_tree: the unpacked Debian linux-source-6.1 tree (unpacked once per version).
linux_source_tree() {
  need_pkgs linux-source-6.1 xz-utils >&2
  local ver tree
  ver=$(pkg_version linux-source-6.1)
  tree=$CACHE/src/linux-source-$ver
  mkdir -p "$CACHE/src"
  # Unpack once even when several builds start together (the lock is released on return).
  exec 8>"$tree.lock"
  flock 8
  if [ ! -f "$tree/.swifthv-unpacked" ]; then
    say "unpacking /usr/src/linux-source-6.1.tar.xz ($ver)"
    rm -rf "$tree.tmp"; mkdir -p "$tree.tmp"
    tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$tree.tmp" --strip-components=1 \
      || die "cannot unpack linux-source-6.1"
    touch "$tree.tmp/.swifthv-unpacked"
    rm -rf "$tree"; mv "$tree.tmp" "$tree"
  fi
  exec 8>&-
  echo "$tree"
}
