#!/usr/bin/env sh
# The CJK font the badge PDF embeds (services/registration/badges.py): WenQuanYi Micro Hei from Debian.
# Another CJK TTF/OTF/TTC may be used instead with CONFERENCE_BADGE_FONT=/path/to/font.
set -eu
FONT=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
if [ -n "${CONFERENCE_BADGE_FONT:-}" ] || [ -f "$FONT" ]; then exit 0; fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing Debian's fonts-wqy-microhei (the badge's CJK font, one-time)"
install() { DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends fonts-wqy-microhei >/dev/null; }
install || { $SUDO apt-get update -q >/dev/null && install; } || {
    echo "cannot install fonts-wqy-microhei: run 'apt-get update' first, or set CONFERENCE_BADGE_FONT"; exit 1; }
