#!/bin/sh
# deb postinst: install the helper's systemd unit from the app's resources, then enable and
# start it. The unit itself is packaging/service/wirelane-helper.service.
set -e
UNIT_SRC="/opt/Wirelane/resources/service/wirelane-helper.service"
if [ -f "$UNIT_SRC" ] && command -v systemctl >/dev/null 2>&1; then
  install -m 0644 "$UNIT_SRC" /lib/systemd/system/wirelane-helper.service
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable --now wirelane-helper.service || true
  fi
fi
# electron-builder's own postinst work: the chrome-sandbox helper must be setuid root.
chmod 4755 '/opt/Wirelane/chrome-sandbox' 2>/dev/null || true
ln -sf '/opt/Wirelane/wirelane' '/usr/bin/wirelane-desktop' || true
