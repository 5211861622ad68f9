#!/bin/sh
# tests/cli/examples.sh: every example of the man pages runs, as jq tests its manual.
# The commands of the EXAMPLES sections of cnnf(1) and cnnf-onnx(5) run in a scratch
# directory with `samples` and `tests` beside them and the files they name made from the
# shipped samples (photo.jpg is samples/chelsea.png, gray.png samples/camera.png, in.pgm
# the lecture's 10x10 image...); each must exit 0. The model files of cnnf-model(5)'s
# EXAMPLES must load. Run from the top of the tree; ends with "examples: N passed, N failed".
CNNF=${CNNF:-./cnnf}
case "$CNNF" in /*) ;; *) CNNF="$(pwd)/$CNNF" ;; esac
ROOT=$(pwd)
mkdir -p "$ROOT/tests/tmp"
T=$(mktemp -d "$ROOT/tests/tmp/examples.XXXXXX")
. "$(dirname "$0")/lib.sh"

# blocks PAGE: the .EX ... .EE blocks of PAGE's EXAMPLES section, roff escapes undone,
# each block followed by a line "--".
blocks() {
	awk '/^\.SH /{ex = ($2 == "EXAMPLES")} ex && /^\.EX/{b=1; next} ex && /^\.EE/{b=0; print "--"; next} ex && b' "$1" |
		sed -e 's/\\-/-/g' -e 's/\\e/\\/g' -e 's/\\(lq/"/g' -e 's/\\(rq/"/g' -e "s/\\\\(aq/'/g"
}

# The files the examples name, made from what the repository ships.
mkdir -p "$T/run/bin"
ln -s "$CNNF" "$T/run/bin/cnnf"
ln -s "$ROOT/samples" "$T/run/samples"
ln -s "$ROOT/tests" "$T/run/tests"
(
	cd "$T/run" || exit 1
	cnnf() { "$CNNF" "$@"; }
	cnnf identity samples/chelsea.png photo.jpg &&
		cp samples/chelsea.png photo.png &&
		cp samples/camera.png gray.png &&
		cp tests/data/io/rgba8_i.png logo.png &&
		printf '%s\n' '# two 3x3 filters of depth 3, as a conv layer of 2 outputs' \
			'1 0 -1' '2 0 -2' '1 0 -1' --- '1 0 -1' '2 0 -2' '1 0 -1' --- '0 0 0' '0 1 0' '0 0 0' \
			=== '1 2 1' '0 0 0' '-1 -2 -1' --- '0 0 0' '0 0 0' '0 0 0' --- '1 2 1' '0 0 0' '-1 -2 -1' >bank.txt &&
		cp samples/chelsea.png in.png &&
		{ printf 'P2\n10 10\n255\n'; i=0; while [ $i -lt 100 ]; do echo $(((i * 37) % 256)); i=$((i + 1)); done; } >in.pgm
) || bad "could not make the examples' files"

# Every command line of a page (continuation lines joined) runs in the scratch directory.
run_page() {
	blocks "$1" | awk '/^--$/{next} {if (sub(/\\$/, "")) {line = line $0; next} print line $0; line = ""}' >"$T/cmds"
	n=0
	while IFS= read -r cmd; do
		case "$cmd" in cnnf\ *) ;; *) continue ;; esac
		n=$((n + 1))
		if (cd "$T/run" && PATH="$T/run/bin:$PATH" sh -c "$cmd") >"$T/out" 2>&1; then
			ok
		else
			bad "$1: example fails: $cmd: $(tail -n 2 "$T/out")"
		fi
	done <"$T/cmds"
	[ "$n" -gt 0 ] && ok || bad "$1: no examples found"
}
run_page "$ROOT/man/cnnf.1"
run_page "$ROOT/man/cnnf-onnx.5"

# cnnf-model(5): each example that is a model file loads.
blocks "$ROOT/man/cnnf-model.5" | awk -v dir="$T" '
	/^--$/ { if (f) close(f); f = ""; next }
	!f && /^cnnf-model / { f = dir "/model" (++n) ".cnnf" }
	f { print > f }'
models=0
for m in "$T"/model*.cnnf; do
	[ -e "$m" ] || continue
	models=$((models + 1))
	if "$CNNF" info "$m" >/dev/null 2>"$T/err"; then ok; else bad "cnnf-model(5) example $(basename "$m") does not load: $(cat "$T/err")"; fi
done
expect_eq "cnnf-model(5) has model examples" "$([ $models -ge 2 ] && echo yes)" yes

echo "examples: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && rm -rf "$T"
[ "$fail" -eq 0 ]
