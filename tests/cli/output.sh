#!/bin/sh
# tests/cli/output.sh: how cnnf puts its outputs in place (output.h): through symbolic links,
# in place on devices, FIFOs and its own descriptors, keeping modes and owners, refusing what
# cp refuses, all-or-nothing with several outputs, and nothing left behind by a signal.
# Run from the top of the tree (make check does); ends with "output: N passed, N failed".
# The permission cases run as nobody (setpriv) when the test runs as root, and are skipped
# otherwise; the ones that hide /proc or /dev run inside `unshare -m` where it works.
CNNF=${CNNF:-./cnnf}
case "$CNNF" in /*) ;; *) CNNF="$(pwd)/$CNNF" ;; esac
S="$(pwd)/samples"
M="$S/models/coins.cnnf"
mkdir -p "$(pwd)/tests/tmp"
T=$(mktemp -d "$(pwd)/tests/tmp/output.XXXXXX")
chmod 755 "$T"
. "$(dirname "$0")/lib.sh"
skipped=0
skip() {
	skipped=$((skipped + 1))
	[ -z "$OUTPUT_VERBOSE" ] || echo "skip: $*"
}
IN="$S/coins.png"
"$CNNF" box "$IN" "$T/want.png" || bad "box to a plain file"

# expect_keep NAME FILE: FILE still holds "keep".
expect_keep() {
	if [ "$(head -c 5 "$2")" = keep ]; then ok; else bad "$1: $2 was changed"; fi
}

# nothing_left NAME DIR: no temporary file of cnnf's in DIR.
nothing_left() {
	if ls -A "$2" | grep -q '^\.cnnf-'; then bad "$1: left $(ls -A "$2" | grep '^\.cnnf-') in $2"; else ok; fi
}

# ---- symbolic links: the target is replaced, the link stays ----
d="$T/links"
mkdir -p "$d/sub"
cp "$IN" "$d/real.png"
ln -s real.png "$d/cl.png"
run box "$d/cl.png" "$d/cl.png"
expect_status "box link link" 0
[ -L "$d/cl.png" ] && ok || bad "the link cl.png was replaced by a file"
expect_same "the link's target holds the result" "$d/real.png" "$T/want.png"
ln -s ../cl.png "$d/sub/chain.png"
cp "$IN" "$d/real.png"
run box "$IN" "$d/sub/chain.png"
expect_status "link to a link" 0
[ -L "$d/sub/chain.png" ] && [ -L "$d/cl.png" ] && ok || bad "a link in the chain was replaced"
expect_same "the end of the chain holds the result" "$d/real.png" "$T/want.png"
ln -s ../made.png "$d/sub/dangling.png"
run box "$IN" "$d/sub/dangling.png"
expect_status "dangling link" 0
expect_same "a dangling link's target is created" "$d/made.png" "$T/want.png"
ln -s loop2.png "$d/loop1.png"
ln -s loop1.png "$d/loop2.png"
run box "$IN" "$d/loop1.png"
expect_error "a loop of links" 1 "loop1.png: Too many levels of symbolic links"
nothing_left "links" "$d"

# ---- streams: written in place, never renamed over ----
d="$T/streams"
mkdir -p "$d"
"$CNNF" box "$IN" - >"$d/dash.png"
"$CNNF" box "$IN" /proc/self/fd/1 >"$d/fd1.png"
status=$?
expect_status "/proc/self/fd/1 to a file" 0
expect_same "/proc/self/fd/1 writes what - writes" "$d/fd1.png" "$d/dash.png"
[ "$(readlink /proc/self/fd/1 2>/dev/null)" != "" ] && ok || bad "/proc/self/fd is not there"
n=$("$CNNF" box "$IN" /proc/self/fd/1 | wc -c)
expect_eq "/proc/self/fd/1 to a pipe" "$n" "$(wc -c <"$d/dash.png")"
{
	echo head
	"$CNNF" box "$IN" /dev/fd/1
} >"$d/appended"
expect_eq "a descriptor's offset is kept" "$(head -n 1 "$d/appended")" head
tail -c +6 "$d/appended" >"$d/tail.png"
expect_same "after the offset, the image" "$d/tail.png" "$d/dash.png"
mkfifo "$d/fifo.png"
cat "$d/fifo.png" >"$d/from-fifo.png" &
run box "$IN" "$d/fifo.png"
wait
expect_status "a FIFO" 0
[ -p "$d/fifo.png" ] && ok || bad "the FIFO was replaced"
expect_same "the FIFO's reader got the image" "$d/from-fifo.png" "$d/dash.png"
# another process's descriptor on a longer regular file: truncated as '>' would, not overwritten
head -c 200000 /dev/zero >"$d/other.png"
sleep 30 1<>"$d/other.png" &
holder=$!
run box "$IN" "/proc/$holder/fd/1"
kill "$holder"
wait "$holder" 2>/dev/null
expect_status "another process's descriptor" 0
expect_same "another process's file holds the image alone" "$d/other.png" "$d/dash.png"
run box "$IN" /dev/null
expect_status "/dev/null (PNG, as for -)" 0
[ -c /dev/null ] && ok || bad "/dev/null is no longer a device"
if [ -w /dev/full ]; then
	run box "$IN" /dev/full
	expect_error "/dev/full" 1 "/dev/full: write error: No space left on device"
fi
# /dev/stdout itself, in a mount namespace with a /dev of its own: a regression would
# replace the machine's link otherwise.
if unshare -m true 2>/dev/null; then
	unshare -m sh -c '
		mount -t tmpfs none /dev || exit 77
		ln -s /proc/self/fd/1 /dev/stdout
		"$1" box "$2" /dev/stdout >"$3/devstdout.png" || exit 1
		[ -L /dev/stdout ] || exit 2
	' sh "$CNNF" "$IN" "$d"
	s=$?
	if [ "$s" -eq 77 ]; then
		skip "/dev/stdout: no tmpfs mount"
	else
		expect_eq "/dev/stdout > file: status (2: the link was replaced)" "$s" 0
		expect_same "/dev/stdout > file holds the image" "$d/devstdout.png" "$d/dash.png"
	fi
else
	skip "/dev/stdout: no unshare -m"
fi
nothing_left "streams" "$d"

# ---- modes, owners, names ----
d="$T/modes"
mkdir -p "$d"
printf 'old\n' >"$d/m600.png"
chmod 600 "$d/m600.png"
run box "$IN" "$d/m600.png"
expect_eq "a 0600 file stays 0600" "$(stat -c %a "$d/m600.png")" 600
expect_same "and is replaced" "$d/m600.png" "$T/want.png"
printf 'old\n' >"$d/m751.png"
chmod 751 "$d/m751.png"
run box "$IN" "$d/m751.png"
expect_eq "a 0751 file stays 0751" "$(stat -c %a "$d/m751.png")" 751
(umask 027 && "$CNNF" box "$IN" "$d/new.png")
expect_eq "a new file gets 0666 less the umask" "$(stat -c %a "$d/new.png")" 640
long=$(printf 'n%.0s' $(seq 251))
run box "$IN" "$d/$long.png"
expect_status "a 255-byte name" 0
expect_same "a 255-byte name holds the image" "$d/$long.png" "$T/want.png"
if [ "$(id -u)" -eq 0 ]; then
	printf 'old\n' >"$d/theirs.png"
	chown nobody:nogroup "$d/theirs.png"
	run box "$IN" "$d/theirs.png"
	expect_eq "root keeps a file's owner and group" "$(stat -c %U:%G "$d/theirs.png")" nobody:nogroup
fi
nothing_left "modes" "$d"

# ---- what cp refuses, as someone else ----
if [ "$(id -u)" -eq 0 ] && setpriv --reuid=nobody --regid=nogroup --clear-groups true 2>/dev/null; then
	as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$CNNF" "$@" >"$T/stdout" 2>"$T/stderr"; status=$?; err=$(cat "$T/stderr"); }
	d="$T/perm"
	mkdir -p "$d/shared" "$d/locked" "$d/sticky"
	chmod 777 "$d/shared"
	printf 'keep\n' >"$d/shared/ro.png"
	chmod 444 "$d/shared/ro.png"
	as_nobody box "$IN" "$d/shared/ro.png"
	expect_error "someone else's 0444 file" 1 "ro.png: cannot open for writing: Permission denied"
	expect_keep "is untouched" "$d/shared/ro.png"
	printf 'keep\n' >"$d/locked/rw.png"
	chmod 666 "$d/locked/rw.png"
	as_nobody box "$IN" "$d/locked/rw.png"
	expect_error "a writable file in a locked directory" 1 "rw.png: cannot be replaced safely: its directory .* is not writable"
	expect_keep "is untouched" "$d/locked/rw.png"
	as_nobody box "$IN" "$d/locked/new.png"
	expect_error "a new file in a locked directory" 1 "new.png: cannot create: Permission denied"
	chmod 1777 "$d/sticky"
	printf 'keep\n' >"$d/sticky/rw.png"
	chmod 666 "$d/sticky/rw.png"
	as_nobody box "$IN" "$d/sticky/rw.png"
	expect_error "someone else's file in a sticky directory" 1 "cannot be replaced safely: its directory is sticky"
	as_nobody box "$IN" "$d/shared/mine.png"
	expect_status "nobody writes a new file" 0
	expect_eq "owned by nobody" "$(stat -c %U "$d/shared/mine.png")" nobody
	nothing_left "perm" "$d/shared"
	nothing_left "perm" "$d/sticky"
else
	skip "permission cases: not root, or no setpriv"
fi

# ---- several outputs: all or nothing ----
d="$T/multi"
mkdir -p "$d"
printf 'keep\n' >"$d/labels.png"
run segment -m "$M" --probs "$d/p.npy" --overlay "$d/nodir/o.png" "$IN" "$d/labels.png"
expect_error "segment with an overlay in no directory" 1 "nodir/o.png: cannot create"
expect_keep "the label map is untouched" "$d/labels.png"
expect_absent "no probabilities are written" "$d/p.npy"
run segment -m "$M" --probs "$d/p.npy" --overlay "$d/o.png" "$IN" "$d/labels.png"
expect_status "segment with three outputs" 0
[ -s "$d/p.npy" ] && [ -s "$d/o.png" ] && ! cmp -s "$d/labels.png" /dev/null && ok || bad "segment wrote not all three"
printf 'x.png y.png\n' >"$d/list"
run train -m "$S/models/coins-arch.cnnf" --epochs 1 -o "$d/nodir/m.cnnf" "$d/list"
expect_error "train to an output in no directory" 1 "nodir/m.cnnf: cannot create"
expect_eq "refused before the first epoch" "$out" ""
run train -m "$S/models/coins-arch.cnnf" --epochs 1 -o "$d/m.cnnf" --checkpoint "$d/nodir/c.cnnf" "$d/list"
expect_error "train with a checkpoint in no directory" 1 "nodir/c.cnnf: cannot create"
expect_absent "no model" "$d/m.cnnf"
# two outputs that name one file (directly or through a link): the first would be lost
printf 'keep\n' >"$d/same.png"
run segment -m "$M" --overlay "$d/same.png" "$IN" "$d/same.png"
expect_error "segment with the overlay on the label map" 1 "same.png and .*same.png are the same file"
expect_keep "the label map is untouched" "$d/same.png"
ln -s same.png "$d/same.npy"
run segment -m "$M" --probs "$d/same.npy" "$IN" "$d/./same.png"
expect_error "segment with --probs a link to the label map" 1 "same.png and .*same.npy are the same file"
expect_keep "the link's target is untouched" "$d/same.png"
mkdir -p "$d/a" "$d/b" "$d/od"
cp "$IN" "$d/a/x.png"
cp "$IN" "$d/b/x.jpg"
run segment -m "$M" --outdir "$d/od" "$d/a/x.png" "$d/b/x.jpg"
expect_error "segment --outdir with two inputs of one name" 1 "od/x.png: .*a/x.png and .*b/x.jpg would both be written there"
expect_absent "refused before any work" "$d/od/x.png"
run train -m "$S/models/coins-arch.cnnf" --epochs 1 -o "$d/m.cnnf" --checkpoint "$d/../multi/m.cnnf" "$d/list"
expect_error "train with the checkpoint on the output" 1 "m.cnnf and .*m.cnnf are the same file"
expect_absent "no model" "$d/m.cnnf"
# a FIFO checkpoint: its reader gets the model, not an empty stream from a trial open
if command -v timeout >/dev/null; then
	mkfifo "$d/ck.fifo"
	cat "$d/ck.fifo" >"$d/ck.got" &
	reader=$!
	(cd "$S/models" && timeout 60 "$CNNF" train -m coins-arch.cnnf --epochs 1 -o "$d/ck-m.cnnf" \
		--checkpoint "$d/ck.fifo" coins.list) >"$T/stdout" 2>"$T/stderr"
	status=$?
	err=$(cat "$T/stderr")
	kill "$reader" 2>/dev/null
	wait "$reader" 2>/dev/null
	expect_status "train with a FIFO checkpoint (124: blocked on the FIFO)" 0
	expect_same "the FIFO's reader got the checkpoint" "$d/ck.got" "$d/ck-m.cnnf"
else
	skip "FIFO checkpoint: no timeout"
fi
nothing_left "multi" "$d"

# ---- file size limit: reported as a write error ----
d="$T/fsize"
mkdir -p "$d"
(ulimit -f 8 && exec "$CNNF" box "$IN" "$d/big.ppm") >"$T/stdout" 2>"$T/stderr"
status=$?
err=$(cat "$T/stderr")
expect_error "past the file size limit" 1 "big.ppm: write error: File too large"
expect_absent "no partial file" "$d/big.ppm"
nothing_left "fsize" "$d"

# ---- signals: nothing left behind, the old file untouched ----
# A slow job: patch mode on one thread over a tiled coins (about 8 s here; killed at 0.5 s).
d="$T/signals"
mkdir -p "$d"
"$CNNF" box --pad 600 --border wrap "$IN" "$d/big.png" || bad "making the slow input"
# killed SIG PREFIX...: runs the slow segment job (under PREFIX) with SIG at its default (a
# background job starts with INT and QUIT ignored, and under nohup HUP too), sends
# SIG after half a second, and checks the status and the directory.
killed() {
	sig=$1
	shift
	printf 'keep\n' >"$d/out/labels.png"
	"$@" perl -e '$SIG{$_} = "DEFAULT" for qw(INT QUIT HUP TERM ALRM USR1 XCPU); exec @ARGV or exit 126' \
		"$CNNF" segment -m "$M" --mode patch -t 1 --probs "$d/out/p.npy" "$d/big.png" "$d/out/labels.png" \
		2>"$T/stderr" &
	pid=$!
	sleep 0.5
	# the job must still be running: a fast machine would otherwise test nothing
	if ! kill -0 "$pid" 2>/dev/null; then
		wait "$pid"
		skip "$sig: the job ended before the signal"
		return
	fi
	ls -A "$d/out" >"$T/during"
	kill -"$sig" "$pid"
	wait "$pid" 2>/dev/null
	s=$?
	case $sig in INT) n=2 ;; QUIT) n=3 ;; KILL) n=9 ;; HUP) n=1 ;; TERM) n=15 ;; USR1) n=10 ;; ALRM) n=14 ;; XCPU) n=24 ;; esac
	expect_eq "$sig: status" "$s" $((128 + n))
	expect_keep "$sig: the old label map is untouched" "$d/out/labels.png"
	expect_absent "$sig: no probabilities" "$d/out/p.npy"
	nothing_left "$sig" "$d/out"
}
mkdir -p "$d/out"
command -v perl >/dev/null || skip "signals: no perl"
if command -v perl >/dev/null; then
	for sig in INT TERM HUP QUIT KILL; do
		killed "$sig"
	done
	# Without /proc (and so without unnamed files) the data goes to a hidden name that the
	# signal handler removes; SIGKILL cannot be caught there.
	if unshare -m sh -c 'mount -t tmpfs none /proc' 2>/dev/null; then
		for sig in INT TERM HUP QUIT ALRM USR1 XCPU; do
			killed "$sig" unshare -m sh -c 'mount -t tmpfs none /proc && exec "$@"' sh
			grep -q '^\.cnnf-' "$T/during" && ok || bad "$sig without /proc: no hidden temporary file while running ($(cat "$T/during"))"
		done
	else
		skip "signals without /proc: no unshare -m"
	fi
fi

# ---- an output that is an input under another name is refused; the same name twice is in place ----
g="$T/guard"
mkdir -p "$g"
cp "$S/coins.png" "$g/coins.png"
sum=$(cksum <"$g/coins.png")
ln -f "$g/coins.png" "$g/hard.png"
ln -sf coins.png "$g/soft.png"
for spelling in "$g/./coins.png" "$g/hard.png" "$g/soft.png"; do
	run box "$g/coins.png" "$spelling"
	expect_error "box to $spelling" 1 "is the input .*coins.png under another name"
	expect_eq "box to $spelling: the input is untouched" "$(cksum <"$g/coins.png")" "$sum"
done
run segment -m "$M" --outdir "$g" "$g/coins.png"
expect_error "segment --outdir onto its input" 1 "would replace the input .*coins.png; choose another --outdir"
expect_eq "segment --outdir: the input is untouched" "$(cksum <"$g/coins.png")" "$sum"
run segment -m "$M" --overlay "$g/soft.png" "$g/coins.png" "$g/labels.png"
expect_error "--overlay onto the input" 1 "soft.png: is the input"
expect_absent "--overlay onto the input: no label map" "$g/labels.png"
run box "$g/coins.png" "$g/coins.png"
expect_status "box in place (the same name twice)" 0
if [ "$(cksum <"$g/coins.png")" != "$sum" ]; then ok; else bad "box in place changed nothing"; fi

echo "output: $pass passed, $fail failed${skipped:+, $skipped skipped}"
[ "$fail" -eq 0 ] && rm -rf "$T"
[ "$fail" -eq 0 ]
