#!/bin/sh
# Every C file of the project is formatted as .clang-format says.
set -u
cd "$1"
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
n=0 bad=0
for f in $files; do
    n=$((n + 1))
done
echo "1..$n"
i=0
for f in $files; do
    i=$((i + 1))
    if clang-format --style=file --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "ok $i $f"
    else
        echo "not ok $i $f: run clang-format -i $f"
        bad=1
    fi
done
exit $bad
