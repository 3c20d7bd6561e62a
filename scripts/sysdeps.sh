#!/usr/bin/env bash
# Install the system packages pianogen uses when they are missing and we may install them.
set -uo pipefail
need=()
command -v fluidsynth >/dev/null || need+=(fluidsynth)
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || need+=(fluid-soundfont-gm)
command -v chromium >/dev/null || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "sysdeps: installing ${need[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null \
    || echo "sysdeps: apt-get failed; continuing without ${need[*]}"
else
  echo "sysdeps: missing ${need[*]} (install them with your package manager)."
  echo "         Audio falls back to the numpy synthesizer; the browser test is skipped."
fi
exit 0
