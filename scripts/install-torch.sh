#!/bin/sh
# Installs what `make bench-peers` (bench/peer_torch.py) needs beyond the build: Debian's
# PyTorch and the threaded OpenBLAS it runs its matmuls on — as root with apt-get,
# otherwise it prints the exact command to run.
set -e
PKGS="python3-torch python3-numpy libopenblas0-pthread"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "install-torch: apt-get install$missing" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2
else
  echo "install-torch: missing Debian packages; run:" >&2
  echo "  sudo apt-get install -y$missing" >&2
  exit 1
fi
