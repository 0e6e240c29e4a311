#!/usr/bin/env bash
# Prepares the filesystems of the control-plane and addon images (one
# directory per image under $WORK/components/<name>/ with rootfs/, ref and
# image.conf). The Go driver packs them into a docker-archive, which
# import.sh loads into the node's containerd. Libraries and busybox come from
# the node rootfs in $ROOT (Debian bookworm), so nothing is downloaded here.
. "$BUILDERS/lib.sh"
need ROOT WORK K8S_BIN ETCD_BIN COREDNS_BIN LPP_BIN PAUSE_BIN K8S_VERSION ETCD_TAG COREDNS_VERSION PAUSE_TAG \
  KINDNET_REF LPP_REF HELPER_REF
here=$BUILDERS/node
C=$WORK/components
rm -rf "$C"; mkdir -p "$C"
P='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

new() { # new NAME REF: an empty image directory with skeleton files
  local d=$C/$1
  mkdir -p "$d/rootfs"; echo "$2" > "$d/ref"
  skel "$d/rootfs"
  cp "$ROOT/etc/ssl/certs/ca-certificates.crt" "$d/rootfs/etc/ssl/certs/"
}

for c in kube-apiserver kube-controller-manager kube-scheduler; do
  new "$c" "registry.k8s.io/$c:$K8S_VERSION"
  install -m 0755 "$K8S_BIN/$c" "$C/$c/rootfs/usr/local/bin/$c"
  image_conf "$C/$c" "$P"
done

new etcd "registry.k8s.io/etcd:$ETCD_TAG"
install -m 0755 "$ETCD_BIN" "$C/etcd/rootfs/usr/local/bin/etcd"
mkdir -p "$C/etcd/rootfs/var/lib/etcd"
image_conf "$C/etcd" "$P"

new pause "registry.k8s.io/pause:$PAUSE_TAG"
install -m 0755 "$PAUSE_BIN" "$C/pause/rootfs/pause"
image_conf "$C/pause" 'ENTRYPOINT ["/pause"]'

new coredns "registry.k8s.io/coredns/coredns:$COREDNS_VERSION"
install -m 0755 "$COREDNS_BIN" "$C/coredns/rootfs/coredns"
image_conf "$C/coredns" 'ENTRYPOINT ["/coredns"]'

# kube-proxy programs iptables: it needs the iptables binaries (legacy and
# nft), every library they and their extension modules load (ldd over
# xtables/*.so too: e.g. the statistic match needs libm; without it
# Services with two or more endpoints silently break), and a wrapper that
# picks the backend the node uses.
kp=$C/kube-proxy/rootfs
new kube-proxy "registry.k8s.io/kube-proxy:$K8S_VERSION"
add_busybox "$ROOT" "$kp"
install -m 0755 "$K8S_BIN/kube-proxy" "$kp/usr/local/bin/kube-proxy"
mkdir -p "$kp/usr/lib/x86_64-linux-gnu" "$kp/lib64"
for f in usr/sbin/xtables-nft-multi usr/sbin/xtables-legacy-multi usr/sbin/conntrack; do
  cp -a "$ROOT/$f" "$kp/$f"
done
mount_chroot "$ROOT"
libs=$(chroot "$ROOT" sh -c 'ldd /usr/sbin/xtables-nft-multi /usr/sbin/xtables-legacy-multi /usr/sbin/conntrack /usr/lib/x86_64-linux-gnu/xtables/*.so' \
  | awk '$3 ~ /^\// {print $3}' | sort -u)
umount_chroot
[ -n "$libs" ] || die "ldd found no libraries for iptables in the node rootfs"
for l in $libs; do
  mkdir -p "$kp$(dirname "$l")"; cp -L "$ROOT$l" "$kp$l"
done
cp -L "$ROOT/lib64/ld-linux-x86-64.so.2" "$kp/lib64/"
cp -a "$ROOT/usr/lib/x86_64-linux-gnu/xtables" "$kp/usr/lib/x86_64-linux-gnu/"
for f in protocols services ethertypes; do [ -f "$ROOT/etc/$f" ] && cp "$ROOT/etc/$f" "$kp/etc/"; done
install -m 0755 "$here/iptables-wrapper.sh" "$kp/usr/sbin/iptables-wrapper"
for x in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
  ln -s iptables-wrapper "$kp/usr/sbin/$x"
  ln -s xtables-legacy-multi "$kp/usr/sbin/${x/tables/tables-legacy}"
  ln -s xtables-nft-multi "$kp/usr/sbin/${x/tables/tables-nft}"
done
chroot "$kp" /usr/sbin/xtables-legacy-multi iptables --version >/dev/null || die "iptables does not run in the kube-proxy image (missing library?)"
image_conf "$C/kube-proxy" "$P"

# kindnet-lite: the CNI daemon (see kindnet-lite.sh): kube-proxy's
# iptables/busybox filesystem plus kubectl.
cp -a "$C/kube-proxy" "$C/kindnet-lite"
echo "$KINDNET_REF" > "$C/kindnet-lite/ref"
rm -f "$C/kindnet-lite/rootfs/usr/local/bin/kube-proxy"
install -m 0755 "$K8S_BIN/kubectl" "$C/kindnet-lite/rootfs/usr/local/bin/kubectl"
install -m 0755 "$here/kindnet-lite.sh" "$C/kindnet-lite/rootfs/usr/local/bin/kindnet-lite"

# storage: local-path-provisioner and its helper pod image (busybox sh)
new local-path-provisioner "$LPP_REF"
add_busybox "$ROOT" "$C/local-path-provisioner/rootfs"
install -m 0755 "$LPP_BIN" "$C/local-path-provisioner/rootfs/usr/local/bin/local-path-provisioner"
image_conf "$C/local-path-provisioner" "$P"
new local-path-helper "$HELPER_REF"
add_busybox "$ROOT" "$C/local-path-helper/rootfs"
image_conf "$C/local-path-helper" "$P"

ls "$C"
