#!/bin/sh
# tests/valgrind.sh: make valgrind. Runs the command-line tests (tests/cli/run.sh) and the
# bad-input tests (tests/bad/run.sh) with every cnnf run under valgrind's memcheck, and
# fails on any valgrind error (invalid access, uninitialised value, definite or indirect
# leak) as well as on any failed test. Run from the top of the tree.
VALGRIND=${VALGRIND:-valgrind}
top=$(pwd)
V="$top/tests/tmp/valgrind"
rm -rf "$V"
mkdir -p "$V/log"
# The wrapper the suites run as CNNF: one log per process, empty when valgrind is happy.
cat >"$V/cnnf" <<WRAP
#!/bin/sh
exec $VALGRIND -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect \\
	--errors-for-leak-kinds=definite,indirect --log-file="$V/log/vg.%p" "$V/cnnf.bin" "\$@"
WRAP
chmod +x "$V/cnnf"
# A copy, so that a rebuild while the tests run does not pull the binary from under them.
cp cnnf "$V/cnnf.bin" || exit 1
status=0
CNNF="$V/cnnf" sh tests/cli/run.sh >"$V/cli.out" 2>&1 || status=1
tail -n 20 "$V/cli.out"
# Valgrind needs more address space than the bad-input suite's limit, and time.
CNNF="$V/cnnf" BAD_VMEM="" BAD_TIMEOUT=600 sh tests/bad/run.sh >"$V/bad.out" 2>&1 || status=1
tail -n 20 "$V/bad.out"
errors=0
for f in "$V"/log/vg.*; do
	[ -s "$f" ] || continue
	errors=$((errors + 1))
	[ "$errors" -le 5 ] && { echo "== $f"; head -n 30 "$f"; }
done
runs=$(find "$V/log" -name 'vg.*' | wc -l)
echo "valgrind: $runs runs of cnnf, $errors with errors"
[ "$errors" -eq 0 ] && [ "$status" -eq 0 ]
