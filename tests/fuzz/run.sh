#!/bin/sh
# tests/fuzz/run.sh DIR SECONDS TARGET...: runs each libFuzzer target DIR/fuzz_TARGET for
# SECONDS from a fresh copy of its seed corpus in tests/fuzz/corpus/TARGET, one after the
# other, and prints the executions of each. What the fuzzer adds to the corpus goes to
# tests/fuzz/corpus-out/TARGET; a crash, leak, timeout or out-of-memory input is saved to
# tests/fuzz/crashes/ and fails the run: fix it, then add the input to
# tests/fuzz/regress/TARGET/ so that make check replays it. A failed target shows the input
# in base64 too (up to 4 KiB), for a CI machine that is gone afterwards. Exits 1 if any
# target failed (a harness that cannot run counts).
# FUZZ_FLAGS adds libFuzzer options (e.g. FUZZ_FLAGS=-jobs=2).
dir=$1
seconds=$2
shift 2
top=$(pwd)
out="$top/tests/fuzz/corpus-out"
crashes="$top/tests/fuzz/crashes"
mkdir -p "$out" "$crashes"
failed=0
total=0
for t in "$@"; do
	rm -rf "${out:?}/$t"
	cp -R "tests/fuzz/corpus/$t" "$out/$t"
	log="$out/$t.log"
	# -rss_limit_mb also caps a single malloc at 2 GiB: a bigger request is a finding.
	# shellcheck disable=SC2086
	"$dir/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
		-artifact_prefix="$crashes/$t-" -print_final_stats=1 $FUZZ_FLAGS "$out/$t" \
		>"$log" 2>&1
	status=$?
	runs=$(sed -n -E 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
	files=$(find "$out/$t" -type f | wc -l)
	if [ "$status" -ne 0 ]; then
		failed=$((failed + 1))
		echo "fuzz_$t: FAILED after ${runs:-?} executions (log: $log)"
		grep -E '^(==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)' "$log" | head -n 5
		# On a CI machine that is gone afterwards, the input itself is what is left.
		art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | head -n 1)
		if [ -n "$art" ] && [ -f "$art" ] && [ "$(wc -c <"$art")" -le 4096 ]; then
			echo "fuzz_$t: the input, base64 (base64 -d >input):"
			base64 "$art"
		fi
	else
		echo "fuzz_$t: ${runs:-?} executions in ${seconds}s, corpus of $files inputs, no crash"
	fi
	total=$((total + ${runs:-0}))
done
echo "fuzz: $total executions, $failed target(s) failed"
[ "$failed" -eq 0 ]
