#!/usr/bin/env bash
# Assembles the kind node filesystem in $ROOT from the cached Debian rootfs,
# kind's base files (read from the kind module in the Go module cache) and
# the Go-built binaries. Mirrors kind's images/base/Dockerfile, adapted to
# Debian's containerd/runc/CNI packages.
. "$BUILDERS/lib.sh"
need ROOT ROOTFS_TAR KIND_FILES K8S_BIN CRICTL_BIN RUNCWRAP_BIN K8S_VERSION PAUSE_REF KINDNET_REF LPP_REF HELPER_REF
here=$BUILDERS/node

log "unpack rootfs"
extract_rootfs "$ROOTFS_TAR" "$ROOT"

log "kind base files from $KIND_FILES"
# The module cache is read-only; copy, then set kind's modes: scripts and
# directories 0755, everything else 0644.
stage=$WORK/kind-files
rm -rf "$stage"; cp -r "$KIND_FILES/." "$stage/"
chmod -R u+w "$stage"
find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -type f -exec chmod 0644 {} +
chmod 0755 "$stage"/usr/local/bin/* "$stage"/kind/bin/*
cp -a "$stage/." "$ROOT/"

# containerd: Debian installs it in /usr/bin. OOMScoreAdjust=-999 needs
# CAP_SYS_RESOURCE, which some machines cannot grant; systemd then refuses to
# start the unit, so drop it.
unit=$ROOT/etc/systemd/system/containerd.service
grep -q '^ExecStart=/usr/local/bin/containerd$' "$unit" || die "kind's containerd.service changed: review $here/build.sh"
sed -i -e 's#^ExecStart=/usr/local/bin/containerd$#ExecStart=/usr/bin/containerd#' -e '/^OOMScoreAdjust=/d' "$unit"
# kind's fuse-overlayfs unit is for rootless providers; its binary is not here
rm -f "$ROOT/etc/systemd/system/containerd-fuse-overlayfs.service"
sed -e "s#@PAUSE_REF@#$PAUSE_REF#" "$here/containerd-config.toml" > "$ROOT/etc/containerd/config.toml"
install -D -m 0755 "$RUNCWRAP_BIN" "$ROOT/usr/local/sbin/runc-wrap"

log "binaries"
for b in kubelet kubeadm kubectl; do install -m 0755 "$K8S_BIN/$b" "$ROOT/usr/bin/$b"; done
install -m 0755 "$CRICTL_BIN" "$ROOT/usr/local/bin/crictl"
# Debian's CNI plugins live in /usr/lib/cni; containerd looks in /opt/cni/bin
mkdir -p "$ROOT/opt/cni/bin" "$ROOT/etc/cni/net.d"
for p in host-local loopback ptp portmap bridge; do
  [ -x "$ROOT/usr/lib/cni/$p" ] || die "CNI plugin $p missing from the rootfs (package containernetworking-plugins)"
  ln -sf "/usr/lib/cni/$p" "$ROOT/opt/cni/bin/$p"
done

log "kind manifests"
mkdir -p "$ROOT/kind/manifests"
for m in default-cni default-storage; do
  sed -e "s#@KINDNET_REF@#$KINDNET_REF#g" -e "s#@LPP_REF@#$LPP_REF#g" -e "s#@HELPER_REF@#$HELPER_REF#g" \
    "$here/$m.yaml" > "$ROOT/kind/manifests/$m.yaml"
  ! grep -n '@[A-Z_]*@' "$ROOT/kind/manifests/$m.yaml" || die "unfilled placeholder in $m.yaml"
  chmod 0644 "$ROOT/kind/manifests/$m.yaml"
done
printf '%s' "$K8S_VERSION" > "$ROOT/kind/version"
chmod 0755 "$ROOT/kind" "$ROOT/kind/bin"

log "systemd and alternatives (chroot)"
mount_chroot "$ROOT"
chroot "$ROOT" /bin/bash -euo pipefail -c '
  find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete
  rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
        /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
        /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
  echo "ReadKMsg=no" >> /etc/systemd/journald.conf
  ln -sf /usr/lib/systemd/systemd /sbin/init
  systemctl enable kubelet.service containerd.service undo-mount-hacks.service
  systemctl mask systemd-binfmt.service
  mkdir -p /etc/kubernetes/manifests
  # the base runtime spec, plus the hook kind uses to mount product_uuid
  ctr oci spec \
    | jq ".hooks.createContainer[.hooks.createContainer | length] |= . + {\"path\": \"/kind/bin/mount-product-files.sh\"}" \
    | jq "del(.process.rlimits)" > /etc/containerd/cri-base.json
  jq -e .hooks.createContainer /etc/containerd/cri-base.json >/dev/null
  # kind'"'"'s entrypoint switches to nft at boot when the host uses nft
  update-alternatives --set iptables /usr/sbin/iptables-legacy
  update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy
  kubelet --version; kubeadm version -o short; containerd --version; runc --version | head -1; crictl --version
'
umount_chroot
rm -f "$ROOT/etc/machine-id" "$ROOT/var/lib/dbus/machine-id"
touch "$ROOT/etc/machine-id"
log "node filesystem ready"
