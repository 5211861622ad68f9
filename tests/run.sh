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
# suite SCRIPT NAME: runs a shell suite that ends with "NAME: N passed, N failed" and adds
# its counts; a suite that does not get that far counts as one failure.
suite() {
	res=$(sh "$1" 2>&1)
	printf '%s\n' "$res"
	sp=$(printf '%s\n' "$res" | sed -n -E "s/^$2: ([0-9]+) passed, ([0-9]+) failed.*\$/\\1/p")
	sf=$(printf '%s\n' "$res" | sed -n -E "s/^$2: ([0-9]+) passed, ([0-9]+) failed.*\$/\\2/p")
	if [ -z "$sp" ]; then
		echo "$1 did not finish"
		failed=$((failed + 1))
	else
		passed=$((passed + sp))
		failed=$((failed + sf))
	fi
}
suite tests/cli/run.sh cli
suite tests/cli/output.sh output
suite tests/cli/formats.sh formats
suite tests/cli/photo.sh photo
suite tests/cli/meta.sh meta
suite tests/cli/export.sh export
suite tests/cli/onnx.sh onnx
suite tests/cli/same.sh same
suite tests/cli/golden.sh golden
suite tests/cli/optim.sh optim
suite tests/cli/tile.sh tile
suite tests/cli/batch.sh batch
suite tests/cli/examples.sh examples
suite tests/bad/run.sh bad
suite tests/onnx/run.sh onnx_node
suite tests/tools/cnnf2onnx.sh cnnf2onnx
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
