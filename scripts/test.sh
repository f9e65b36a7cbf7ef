#!/bin/sh
# The whole test suite: the plain build, the same tests under ASan+UBSan,
# and a short libFuzzer run of every fuzz target. The last line is
# 'N passed, N failed'.
set -u
cd "$(dirname "$0")/.."
./scripts/deps.sh "$@" || { echo "0 passed, 1 failed"; exit 1; }

extra=""
logs=""
run_suite() { # NAME DIR [meson args]
    name=$1 dir=$2
    shift 2
    if ./scripts/build.sh "$dir" "$@"; then
        meson test -C "$dir" --print-errorlogs --num-processes 2 \
            > "$dir/test-output.txt" 2>&1
        tail -n 12 "$dir/test-output.txt"
        logs="$logs $dir/meson-logs/testlog.json"
    else
        extra="$extra build-$name=fail"
    fi
}

run_suite plain build
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite sanitize build-sanitize -Db_sanitize=address,undefined \
        -Db_lundef=false

# a short fuzz run: 60 s per target, clang + libFuzzer + ASan/UBSan
if CC=clang ./scripts/build.sh build-fuzz -Dfuzzing=true \
        -Db_sanitize=address,undefined -Db_lundef=false; then
    for target in build-fuzz/tests/fuzz/fuzz-*; do
        [ -f "$target" ] && [ -x "$target" ] || continue
        name=$(basename "$target")
        corpus=$(mktemp -d)
        cp tests/fuzz/corpus-${name#fuzz-}/* "$corpus/" 2>/dev/null
        if (cd "$corpus" && UBSAN_OPTIONS=halt_on_error=1 \
                LSAN_OPTIONS=suppressions=$OLDPWD/tests/lsan.supp:print_suppressions=0 \
                "$OLDPWD/$target" -max_total_time="${FUZZ_SECONDS:-60}" \
                -rss_limit_mb=4096 -max_len=4096 -print_final_stats=1 \
                "$corpus" > "$corpus/log" 2>&1); then
            extra="$extra $name=ok"
            grep -E '^(Done|stat::number_of_executed_units)' "$corpus/log"
        else
            extra="$extra $name=fail"
            tail -n 40 "$corpus/log"
        fi
        rm -rf "$corpus"
    done
else
    extra="$extra build-fuzz=fail"
fi

# shellcheck disable=SC2086
mkdir -p build
/usr/bin/python3 scripts/summarize.py $logs $extra | tee build/summary.txt
tail -n 1 build/summary.txt | grep -q ' 0 failed$'
