#!/bin/sh
# Configures (once) and builds one build directory: build.sh DIR [meson args]
set -eu
dir=$1
shift
if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >/dev/null
fi
meson compile -C "$dir" >/dev/null
