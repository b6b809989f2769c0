#!/bin/sh
# deb postrm: stop and remove the helper's unit; the tunnel store in /var/lib/wirelane is kept
# unless the package is purged.
set -e
if command -v systemctl >/dev/null 2>&1 && [ -f /lib/systemd/system/wirelane-helper.service ]; then
  systemctl disable --now wirelane-helper.service 2>/dev/null || true
  rm -f /lib/systemd/system/wirelane-helper.service
  [ -d /run/systemd/system ] && systemctl daemon-reload || true
fi
if [ "$1" = "purge" ]; then rm -rf /var/lib/wirelane; fi
rm -f /usr/bin/wirelane-desktop
