# tests/cli/lib.sh: helpers for the command-line tests (sourced by run.sh).
# CNNF is the binary under test; T is a scratch directory.

pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() {
	fail=$((fail + 1))
	echo "FAIL: $*"
}

# run CMD...: runs cnnf with the given arguments; sets $status, $out (stdout), $err (stderr).
run() {
	"$CNNF" "$@" >"$T/stdout" 2>"$T/stderr"
	status=$?
	out=$(cat "$T/stdout")
	err=$(cat "$T/stderr")
}

# expect NAME STATUS: the last run exited with STATUS.
expect_status() {
	if [ "$status" -eq "$2" ]; then ok; else bad "$1: exit status $status, expected $2 (stderr: $err)"; fi
}

# expect_error NAME STATUS PATTERN: exit STATUS, one stderr line starting "cnnf: " matching PATTERN, no stdout.
expect_error() {
	if [ "$status" -ne "$2" ]; then
		bad "$1: exit status $status, expected $2 (stderr: $err)"
		return
	fi
	lines=$(printf '%s\n' "$err" | wc -l)
	case "$err" in
	"cnnf: "*) ;;
	*)
		bad "$1: stderr does not start with 'cnnf: ': $err"
		return
		;;
	esac
	if [ "$lines" -ne 1 ]; then
		bad "$1: stderr has $lines lines: $err"
		return
	fi
	if ! printf '%s\n' "$err" | grep -q -- "$3"; then
		bad "$1: stderr '$err' does not match '$3'"
		return
	fi
	ok
}

# expect_absent NAME FILE: FILE does not exist.
expect_absent() {
	if [ -e "$2" ]; then bad "$1: $2 exists"; else ok; fi
}

# expect_same NAME A B: the two files are byte-identical.
expect_same() {
	if cmp -s "$2" "$3"; then ok; else bad "$1: $2 and $3 differ"; fi
}

# expect_eq NAME GOT WANT
expect_eq() {
	if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', expected '$3'"; fi
}

# pgm FILE W H VALUES...: writes an 8-bit P2 (plain text) image.
pgm() {
	f=$1 w=$2 h=$3
	shift 3
	{
		printf 'P2\n%s %s\n255\n' "$w" "$h"
		printf '%s\n' "$@"
	} >"$f"
}

# values FILE: the samples of an 8-bit binary PNM written by cnnf, space separated.
values() {
	# cnnf writes "P5\nW H\nMAXVAL\n": three header lines.
	tail -n +4 "$1" | od -An -v -tu1 | tr -s ' \n' ' ' | sed 's/^ //; s/ $//'
}

# no_temp_files NAME DIR: no .cnnf temporary file was left in DIR.
no_temp_files() {
	if ls -a "$2" | grep -q -e '^\..*\.[A-Za-z0-9]\{6\}$' -e '^\.cnnf-'; then bad "$1: temporary file left in $2: $(ls -a "$2")"; else ok; fi
}

# expect_printable NAME: the last run's stderr holds printable ASCII only, and newlines: no
# control byte, no byte of a file, no terminal escape.
expect_printable() {
	if LC_ALL=C tr -d ' -~\n' <"$T/stderr" | cmp -s - /dev/null; then
		ok
	else
		bad "$1: stderr holds raw bytes: $(od -An -c "$T/stderr" | head -n 3)"
	fi
}
