#!/bin/sh
# tests/run.sh: runs every Check program given, then the command-line tests and the
# bad-input tests, and ends with one line "N passed, N failed". Exits 1 if anything failed.
passed=0
failed=0
for t in "$@"; do
	out=$("./$t" 2>&1)
	status=$?
	printf '%s\n' "$out" | grep -v '^100%' | grep -v '^Running suite' | sed "s|^|$t: |"
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks: ' | tail -n 1)
	n=$(printf '%s\n' "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
	f=$(printf '%s\n' "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
	e=$(printf '%s\n' "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
	if [ -z "$line" ]; then
		echo "$t: did not finish (status $status)"
		failed=$((failed + 1))
		continue
	fi
	echo "$t: $line"
	passed=$((passed + n - f - e))
	failed=$((failed + f + e))
	[ "$status" -eq 0 ] || [ $((f + e)) -gt 0 ] || { echo "$t: exit status $status"; failed=$((failed + 1)); }
done
cli=$(sh tests/cli/run.sh 2>&1)
printf '%s\n' "$cli"
cp=$(printf '%s\n' "$cli" | sed -n -E 's/^cli: ([0-9]+) passed, ([0-9]+) failed$/\1/p')
cf=$(printf '%s\n' "$cli" | sed -n -E 's/^cli: ([0-9]+) passed, ([0-9]+) failed$/\2/p')
if [ -z "$cp" ]; then
	echo "tests/cli/run.sh did not finish"
	failed=$((failed + 1))
else
	passed=$((passed + cp))
	failed=$((failed + cf))
fi
outputs=$(sh tests/cli/output.sh 2>&1)
printf '%s\n' "$outputs"
op=$(printf '%s\n' "$outputs" | sed -n -E 's/^output: ([0-9]+) passed, ([0-9]+) failed.*$/\1/p')
of=$(printf '%s\n' "$outputs" | sed -n -E 's/^output: ([0-9]+) passed, ([0-9]+) failed.*$/\2/p')
if [ -z "$op" ]; then
	echo "tests/cli/output.sh did not finish"
	failed=$((failed + 1))
else
	passed=$((passed + op))
	failed=$((failed + of))
fi
bad=$(sh tests/bad/run.sh 2>&1)
printf '%s\n' "$bad"
bp=$(printf '%s\n' "$bad" | sed -n -E 's/^bad: ([0-9]+) passed, ([0-9]+) failed$/\1/p')
bf=$(printf '%s\n' "$bad" | sed -n -E 's/^bad: ([0-9]+) passed, ([0-9]+) failed$/\2/p')
if [ -z "$bp" ]; then
	echo "tests/bad/run.sh did not finish"
	failed=$((failed + 1))
else
	passed=$((passed + bp))
	failed=$((failed + bf))
fi
# The Python tools' tests run where Debian's python3-torch is installed, and say "skipped" elsewhere.
tools=$(sh tests/tools/run.sh 2>&1)
printf '%s\n' "$tools"
tp=$(printf '%s\n' "$tools" | sed -n -E 's/^torch2cnnf: ([0-9]+) passed, ([0-9]+) failed$/\1/p')
tf=$(printf '%s\n' "$tools" | sed -n -E 's/^torch2cnnf: ([0-9]+) passed, ([0-9]+) failed$/\2/p')
if [ -n "$tp" ]; then
	passed=$((passed + tp))
	failed=$((failed + tf))
elif ! printf '%s\n' "$tools" | grep -q '^torch2cnnf: skipped'; then
	echo "tests/tools/run.sh did not finish"
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
