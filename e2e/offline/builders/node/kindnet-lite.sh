#!/bin/sh
# kindnet-lite: a minimal stand-in for kind's kindnetd (whose image cannot be
# pulled offline). On every node it
#  - writes /etc/cni/net.d/10-kindnet.conflist: ptp + host-local on this
#    node's spec.podCIDR + portmap (the node turns Ready once it exists),
#  - routes every other node's podCIDR via that node's InternalIP,
#  - masquerades pod traffic leaving the pod subnet.
set -u
POD_SUBNET=${POD_SUBNET:-10.244.0.0/16}
SA=/var/run/secrets/kubernetes.io/serviceaccount
kc() {
  # CONTROL_PLANE_ENDPOINT (set by kind): reach the API server before
  # kube-proxy has programmed the kubernetes Service.
  if [ -n "${CONTROL_PLANE_ENDPOINT:-}" ]; then
    kubectl --server="https://$CONTROL_PLANE_ENDPOINT" --token="$(cat $SA/token)" --certificate-authority=$SA/ca.crt "$@"
  else
    kubectl "$@"
  fi
}
conf=/etc/cni/net.d/10-kindnet.conflist
while true; do
  cidr=$(kc get node "$NODE_NAME" -o jsonpath='{.spec.podCIDR}' 2>/dev/null)
  if [ -n "$cidr" ]; then
    new=$(printf '{"cniVersion":"0.4.0","name":"kindnet","plugins":[{"type":"ptp","ipMasq":false,"ipam":{"type":"host-local","dataDir":"/run/cni-ipam-state","routes":[{"dst":"0.0.0.0/0"}],"ranges":[[{"subnet":"%s"}]]},"mtu":1500},{"type":"portmap","capabilities":{"portMappings":true}}]}' "$cidr")
    if [ "$new" != "$(cat $conf 2>/dev/null)" ]; then
      echo "$new" > $conf.tmp && mv $conf.tmp $conf && echo "wrote $conf for podCIDR $cidr"
    fi
    iptables -t nat -C POSTROUTING -s "$cidr" ! -d "$POD_SUBNET" -j MASQUERADE 2>/dev/null \
      || { iptables -t nat -A POSTROUTING -s "$cidr" ! -d "$POD_SUBNET" -j MASQUERADE && echo "added masquerade for $cidr"; }
  fi
  kc get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.spec.podCIDR} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}' 2>/dev/null |
  while read -r n c addr; do
    if [ "$n" != "$NODE_NAME" ] && [ -n "$c" ] && [ -n "$addr" ]; then
      cur=$(ip route show "$c" 2>/dev/null)
      case "$cur" in *"via $addr "*) ;; *) ip route replace "$c" via "$addr" && echo "route $c via $addr ($n)";; esac
    fi
  done
  sleep 5
done
