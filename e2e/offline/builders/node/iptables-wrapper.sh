#!/bin/sh
# Picks the iptables backend (legacy or nft) with more rules, like
# kubernetes-sigs/iptables-wrappers and kind's node entrypoint, re-points the
# iptables* links at it, then runs the requested command.
legacy=$( (xtables-legacy-multi iptables-save; xtables-legacy-multi ip6tables-save) 2>/dev/null | grep -c '^-')
nft=$( (xtables-nft-multi iptables-save; xtables-nft-multi ip6tables-save) 2>/dev/null | grep -c '^-')
if [ "${legacy:-0}" -ge "${nft:-0}" ] && [ "${legacy:-0}" -gt 0 ]; then mode=legacy; else mode=nft; fi
for x in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
  ln -sf "xtables-$mode-multi" "/usr/sbin/.$x.$$" && mv -f "/usr/sbin/.$x.$$" "/usr/sbin/$x"
done
exec "$0" "$@"
