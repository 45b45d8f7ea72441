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

# debian_python_rootfs ROOT: base_rootfs plus Debian's python3.11 (installed when missing) and its
# standard library, without tests, IDLE, tkinter and the other parts no component uses.
debian_python_rootfs() {
  local root="$1"
  local py; py="$(readlink -f /usr/bin/python3.11 2>/dev/null || true)"
  [[ -x "$py" ]] || { apt_install python3.11-minimal; py=/usr/bin/python3.11; }
  base_rootfs "$root"
  copy_with_libs "$root" "$py" /usr/bin/python3.11
  ln -sf python3.11 "$root/usr/bin/python3"
  ln -sf python3.11 "$root/usr/bin/python"
  mkdir -p "$root/usr/lib"
  tar -C /usr/lib --exclude='__pycache__' --exclude='python3.11/test' --exclude='python3.11/idlelib' \
    --exclude='python3.11/tkinter' --exclude='python3.11/ensurepip' --exclude='python3.11/lib2to3' \
    --exclude='python3.11/distutils' --exclude='python3.11/pydoc_data' -cf - python3.11 | tar -C "$root/usr/lib" -xf -
  copy_libs_of "$root" "$root/usr/lib/python3.11/lib-dynload"
}

# copy_libs_of ROOT DIR: the host's shared libraries that the .so files under DIR (inside ROOT)
# load and ROOT lacks, copied in at the same paths (libraries bundled inside ROOT are left alone).
copy_libs_of() {
  local root="$1" so lib
  while IFS= read -r so; do
    ldd "$so" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | while read -r lib; do
      [[ "$lib" == "$root"/* || -e "$root$lib" ]] && continue
      mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"
    done
  done < <(find "$2" -name '*.so*' -type f)
}
