# shellcheck shell=bash
# Root filesystems for images built without a registry (scripts/probe-image for the Docker door,
# scripts/node-image for the sandbox's real node). Sourced, never run; needs busybox (the static
# one) on PATH, and a die function.

# apt_install PACKAGE: Debian's package, updating the lists only when it is unknown.
apt_install() {
  apt-cache show "$1" >/dev/null 2>&1 || apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >&2 || die "apt-get install $1 failed"
}

# Copies a binary and the shared libraries it loads into ROOT at the same paths.
copy_with_libs() {
  local root="$1" bin="$2" dest="${3:-$2}"
  mkdir -p "$root$(dirname "$dest")"
  cp -L "$bin" "$root$dest"
  ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

base_rootfs() {
  local root="$1"
  mkdir -p "$root"/{bin,etc,tmp,etc/ssl/certs}
  chmod 1777 "$root/tmp"
  cp "$(command -v busybox)" "$root/bin/busybox"
  for a in sh ls cat echo sleep true false env mkdir id wc head tail; do ln -sf busybox "$root/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  [[ -f /etc/ssl/certs/ca-certificates.crt ]] && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
  return 0
}
