# Shared helpers of the image build scripts. Sourced, never run.
# The Go driver (e2e/offline/harness) runs each script with bash, LC_ALL=C,
# BUILDERS=<this directory>, ROOT=<image filesystem to fill>, WORK=<scratch
# directory>, and the script's inputs as environment variables.
set -euo pipefail

log() { echo "[$(date +%T)] $*"; }
die() { echo "error: $*" >&2; exit 1; }

need() { # need VAR... : fail early, naming the missing input
  local v
  for v in "$@"; do
    [ -n "${!v:-}" ] || die "input $v is not set (the Go driver passes it)"
  done
}

# extract_rootfs TAR DIR: unpack a cached debootstrap rootfs.
extract_rootfs() {
  mkdir -p "$2"
  tar --numeric-owner -xpf "$1" -C "$2"
}

# chroot steps need /proc and /dev (pip, ldd, containerd, maintainer
# scripts). mount_chroot mounts them and registers their cleanup; the Go
# driver also unmounts anything left below its work directory.
_mounted=()
mount_chroot() {
  local r=$1
  mkdir -p "$r/proc" "$r/dev"
  mount -t proc proc "$r/proc" && _mounted+=("$r/proc")
  mount --rbind /dev "$r/dev" && mount --make-rslave "$r/dev" && _mounted+=("$r/dev")
  trap umount_chroot EXIT
}
umount_chroot() {
  local i
  for ((i=${#_mounted[@]}-1; i>=0; i--)); do
    umount -R -l "${_mounted[$i]}" 2>/dev/null || true
  done
  _mounted=()
}

# skel DIR: the minimum files a static binary's image needs.
skel() {
  local d=$1
  mkdir -p "$d"/{etc/ssl/certs,tmp,bin,sbin,usr/bin,usr/sbin,usr/local/bin,var/run,run,root}
  chmod 1777 "$d/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$d/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\nnonroot:x:65532:\n' > "$d/etc/group"
  echo 'hosts: files dns' > "$d/etc/nsswitch.conf"
}

# add_busybox SRC DIR: busybox from SRC (a Debian rootfs with the busybox
# package) with a link per applet under /bin, plus the C library it links.
# The dynamic build resolves names through glibc (search domains, ndots) like
# real workloads do. Note: busybox 1.35's `wget -T` segfaults; use
# `timeout N wget` instead.
add_busybox() {
  local src=$1 d=$2 a l
  install -m 0755 "$src/usr/bin/busybox" "$d/bin/busybox"
  mkdir -p "$d/lib/x86_64-linux-gnu" "$d/lib64"
  for l in libc.so.6 libresolv.so.2; do
    [ -e "$d/lib/x86_64-linux-gnu/$l" ] || cp -L "$src/usr/lib/x86_64-linux-gnu/$l" "$d/lib/x86_64-linux-gnu/$l"
  done
  [ -e "$d/lib64/ld-linux-x86-64.so.2" ] || cp -L "$src/usr/lib64/ld-linux-x86-64.so.2" "$d/lib64/"
  for a in $(chroot "$d" /bin/busybox --list); do
    [ -e "$d/bin/$a" ] || [ -L "$d/bin/$a" ] || ln -s busybox "$d/bin/$a"
  done
  chroot "$d" /bin/wget --help >/dev/null 2>&1 || [ $? -eq 1 ] || die "busybox does not run in $d (missing library?)"
}

# image_conf DIR LINE...: the Dockerfile instructions of a component image.
image_conf() {
  local d=$1; shift
  printf '%s\n' "$@" > "$d/image.conf"
}
