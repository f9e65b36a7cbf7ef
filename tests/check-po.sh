#!/bin/sh
# Fails when a translatable message in the sources has no French
# translation (or only a fuzzy one), naming the messages.
set -eu
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$src"
xgettext --from-code=UTF-8 --keyword=_ --keyword=N_ --keyword=C_:1c,2 \
    --keyword=NC_:1c,2 --keyword=g_dngettext:2,3 --flag=g_set_error:4:c-format \
    --add-comments=TRANSLATORS -f po/POTFILES -o "$tmp/virthypervd.pot"
msgmerge --quiet po/fr.po "$tmp/virthypervd.pot" -o "$tmp/fr.po"
msgattrib --untranslated "$tmp/fr.po" > "$tmp/untranslated"
msgattrib --only-fuzzy "$tmp/fr.po" > "$tmp/fuzzy"
stats=$(msgfmt --check --statistics -o /dev/null "$tmp/fr.po" 2>&1)
echo "1..1"
if [ -s "$tmp/untranslated" ] || [ -s "$tmp/fuzzy" ]; then
    echo "not ok 1 po/fr.po is complete: $stats"
    sed 's/^/# /' "$tmp/untranslated" "$tmp/fuzzy"
    exit 1
fi
echo "ok 1 po/fr.po is complete: $stats"
