#!/bin/sh
# tests/bad/run.sh: bad input for every reader and parser, made on the fly with printf, head,
# dd, od and gzip (one file is kept in tests/bad/data/, with the script that made it). Each case runs cnnf twice, once with no output file and once over an
# existing one, each time in a subshell under `ulimit -v` and `timeout`, and passes when both
# runs exit with the status expected (1 for bad input, 2 for a bad option), print exactly one
# line on stderr that starts with "cnnf: " and names the file, create no output (nor any
# temporary file) and leave the existing output byte for byte as it was. Then every input in
# tests/fuzz/regress/ is replayed, through its fuzz harness and through the command line.
# Run from the top of the tree (make check does); ends with "bad: N passed, N failed", N
# counting cases.
#
# CNNF is the binary (or a wrapper such as tests/valgrind.sh's). BAD_VMEM is the address
# space limit in KiB (default 1 GiB; empty for none: ASan reserves terabytes of shadow
# memory, so a sanitizer build runs without it). BAD_TIMEOUT is the seconds a run may take.
CNNF=${CNNF:-./cnnf}
case "$CNNF" in /*) ;; *) CNNF="$(pwd)/$CNNF" ;; esac
S="$(pwd)/samples"
D="$(pwd)/tests/data"
R="$(pwd)/tests/fuzz/regress"
PLAIN="$(pwd)/tests/fuzz/plain"
# A directory of this run's own, as in tests/cli/run.sh; kept when something failed.
mkdir -p "$(pwd)/tests/tmp"
T=$(mktemp -d "$(pwd)/tests/tmp/bad.XXXXXX")
mkdir -p "$T/in" "$T/out"
if [ -z "${BAD_VMEM+set}" ]; then
	BAD_VMEM=1048576
	grep -q -a __asan_init "$CNNF" 2>/dev/null && BAD_VMEM=""
fi
BAD_TIMEOUT=${BAD_TIMEOUT:-30}
pass=0
fail=0
I="$T/in"

# ---- Running cnnf ----

# limited CMD...: CMD under the address space limit and the timeout.
limited() {
	(
		if [ -n "$BAD_VMEM" ]; then ulimit -v "$BAD_VMEM" || exit 97; fi
		exec timeout "$BAD_TIMEOUT" "$@"
	)
}

# run_out OUT ARG...: runs cnnf with ARG..., each ARG that is "OUT" replaced by OUT, with
# standard input from BAD_STDIN (default /dev/null); sets $status and $err.
run_out() {
	o=$1
	shift
	n=$#
	for a in "$@"; do
		[ "$a" = OUT ] && a=$o
		set -- "$@" "$a"
	done
	shift "$n"
	limited "$CNNF" "$@" <"${BAD_STDIN:-/dev/null}" >"$T/stdout" 2>"$T/stderr"
	status=$?
	err=$(cat "$T/stderr")
}

# why_not STATUS NAMED: what is wrong with the last run ($status, $err), or nothing.
why_not() {
	if [ "$status" -ne "$1" ]; then
		case $status in
		124) echo "timed out after ${BAD_TIMEOUT}s" ;;
		12[5-9] | 1[3-9]? | 2??) echo "exit status $status (a signal?): $err" ;;
		*) echo "exit status $status, expected $1: $err" ;;
		esac
		return
	fi
	case "$err" in
	"cnnf: "*) ;;
	*)
		echo "stderr does not start with 'cnnf: ': $err"
		return
		;;
	esac
	[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || {
		echo "stderr has more than one line: $err"
		return
	}
	[ -z "$2" ] || printf '%s\n' "$err" | grep -q -F -- "$2" || echo "stderr does not name $2: $err"
}

# case_result NAME PROBLEM: counts the case. BAD_VERBOSE=1 shows what each case printed.
case_result() {
	[ -z "$BAD_VERBOSE" ] || printf '%s: %s\n' "$1" "$err"
	if [ -z "$2" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $1: $2"
	fi
}

# expect NAME STATUS NAMED EXT ARG...: one case. cnnf ARG... (where OUT stands for an output
# file with extension EXT) must fail with STATUS and a message naming NAMED, create nothing,
# and leave an existing output untouched.
expect() {
	name=$1 want=$2 named=$3 ext=$4
	shift 4
	rm -rf "$T/out"
	mkdir "$T/out"
	out="$T/out/result.$ext"
	run_out "$out" "$@"
	problem=$(why_not "$want" "$named")
	if [ -z "$problem" ] && [ -n "$(ls -A "$T/out")" ]; then
		problem="left $(ls -A "$T/out") behind"
	fi
	if [ -z "$problem" ]; then
		printf 'keep me\n' >"$out"
		cp "$out" "$T/existing"
		run_out "$out" "$@"
		problem=$(why_not "$want" "$named")
		[ -n "$problem" ] && problem="over an existing output: $problem"
		if [ -z "$problem" ] && ! cmp -s "$out" "$T/existing"; then
			problem="the existing output was changed"
		elif [ -z "$problem" ] && [ "$(ls -A "$T/out")" != "result.$ext" ]; then
			problem="left $(ls -A "$T/out") behind"
		fi
	fi
	case_result "$name" "$problem"
}

# Bad inputs of each kind, as the command line meets them.
image() { expect "$1" 1 "$2" png identity "$2" OUT; }
kernel() { expect "$1" 1 "$2" png conv -k "$2" "$D/net/seg_small.input.pgm" OUT; }
model() { expect "$1" 1 "$2" png segment --model "$2" "$D/net/seg_small.input.pgm" OUT; }
# usage NAME PATTERN ARG...: a bad option value: exit 2, one line matching PATTERN.
usage() {
	n=$1 p=$2
	shift 2
	expect "$n" 2 "$p" png "$@"
}

# ---- Making bytes ----

# bytes N...: the bytes with these values.
bytes() {
	for b in "$@"; do
		# shellcheck disable=SC2059
		printf "$(printf '\\%03o' "$b")"
	done
}

# be32 N, le16 N, le32 N: N as 4 big-endian, 2 or 4 little-endian bytes.
be32() { bytes $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
le16() { bytes $(($1 & 255)) $(($1 >> 8 & 255)); }
le32() { bytes $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }

# crc_be: the CRC-32 of stdin as 4 big-endian bytes (gzip's trailer has it little-endian).
crc_be() {
	# shellcheck disable=SC2046
	set -- $(gzip -c | tail -c 8 | od -An -tu1 -N4)
	bytes "$4" "$3" "$2" "$1"
}

# png_chunk TYPE FILE: a PNG chunk of that type holding FILE's bytes, with its CRC.
png_chunk() {
	be32 "$(wc -c <"$2")"
	{
		printf '%s' "$1"
		cat "$2"
	} >"$T/chunk"
	cat "$T/chunk"
	crc_be <"$T/chunk"
}

# png_header W H DEPTH COLOR: a PNG signature and an IHDR chunk with a right CRC.
png_header() {
	bytes 137 80 78 71 13 10 26 10
	{
		be32 "$1"
		be32 "$2"
		bytes "$3" "$4" 0 0 0
	} >"$T/ihdr"
	png_chunk IHDR "$T/ihdr"
}

# png_iend: the IEND chunk.
png_iend() {
	: >"$T/empty"
	png_chunk IEND "$T/empty"
}

# patch FILE OFFSET BYTE...: overwrites bytes of FILE in place.
patch() {
	f=$1 at=$2
	shift 2
	bytes "$@" | dd of="$f" bs=1 seek="$at" conv=notrunc 2>/dev/null
}

# offset_of FILE B1 B2: offset of the first byte pair B1 B2 (decimal values) in FILE.
offset_of() {
	od -An -v -tu1 -w1 "$1" | awk -v a="$2" -v b="$3" \
		'{ v[NR - 1] = $1 + 0 } END { for (i = 0; i < NR - 1; i++) if (v[i] == a && v[i + 1] == b) { print i; exit } }'
}

# npy FILE DESCR SHAPE [FORTRAN]: an NPY 1.0 header, padded as numpy pads it; data follows.
npy() {
	dict="{'descr': '$2', 'fortran_order': ${4:-False}, 'shape': $3, }"
	len=$((${#dict} + 1))
	pad=$(((64 - (10 + len) % 64) % 64))
	{
		printf '\223NUMPY\001\000'
		le16 $((len + pad))
		printf '%s%*s\n' "$dict" "$pad" ""
	} >"$1"
}

# Bytes that look random and are the same every run: the middle of a compressed file.
noise() { head -c $((800 + $1)) "$S/coins.png" | tail -c "$1"; }

# Valid files to damage, written by cnnf itself.
printf 'P2\n8 8\n255\n' >"$I/ok.pgm"
i=0
while [ $i -lt 64 ]; do
	printf '%d\n' $(((i * 37) % 256)) >>"$I/ok.pgm"
	i=$((i + 1))
done
# ok.jpg at 4:2:0, the bytes the JPEG damage below was worked out on (quality 90 now defaults
# to 4:4:4, where the zeroed run in entropy.jpg happens to decode cleanly).
"$CNNF" identity "$I/ok.pgm" "$I/ok.png" &&
	"$CNNF" identity --subsampling 420 "$S/astronaut.png" "$I/ok.jpg" &&
	"$CNNF" identity "$I/ok.pgm" "$I/ok.npy" || {
	echo "bad: cannot make the valid files to damage"
	echo "bad: 0 passed, 1 failed"
	exit 1
}

# ---- PNG ----
: >"$I/empty.png"
image "png: empty" "$I/empty.png"
size=$(wc -c <"$I/ok.png")
for n in 4 8 20 33 45 $((size / 2)) $((size - 12)) $((size - 1)); do
	head -c "$n" "$I/ok.png" >"$I/cut$n.png"
	image "png: truncated at $n of $size bytes" "$I/cut$n.png"
done
cp "$I/ok.png" "$I/ihdr-crc.png"
patch "$I/ihdr-crc.png" 29 0 0 0 0
image "png: bad IHDR CRC" "$I/ihdr-crc.png"
cp "$I/ok.png" "$I/idat-crc.png"
patch "$I/idat-crc.png" $((size - 16)) 0 0 0 0 # cnnf writes IHDR, one IDAT, IEND
image "png: bad IDAT CRC" "$I/idat-crc.png"
cp "$I/ok.png" "$I/zlib.png"
patch "$I/zlib.png" 41 255
image "png: bad zlib header" "$I/zlib.png"
cp "$I/ok.png" "$I/idat-data.png"
off=$(($(wc -c <"$I/ok.png") - 20))
patch "$I/idat-data.png" "$off" 1 2 3 4
image "png: damaged IDAT near the end" "$I/idat-data.png"
{
	bytes 137 80 78 71 13 10 26 10
	noise 1000
} >"$I/noise.png"
image "png: random bytes after the signature" "$I/noise.png"
{
	png_header 8 8 8 0
	noise 300
} >"$I/noise-idat.png"
image "png: random bytes after IHDR" "$I/noise-idat.png"
{
	png_header 8 8 8 0
	noise 200 >"$T/idat"
	png_chunk IDAT "$T/idat"
	png_iend
} >"$I/random-idat.png"
image "png: random IDAT with a right CRC" "$I/random-idat.png"
head -c 100 "$T/idat" >"$T/idat2"
{
	png_header 1000000 1000000 8 0
	png_chunk IDAT "$T/idat2"
	png_iend
} >"$I/huge.png"
image "png: 1000000x1000000 IHDR" "$I/huge.png"
{
	png_header 16384 16384 16 6
	png_chunk IDAT "$T/idat2"
	png_iend
} >"$I/bomb.png"
image "png: 16384x16384 RGBA16 from 200 bytes (within the pixel limit)" "$I/bomb.png"
{
	png_header 100000 100000 8 2
	png_chunk IDAT "$T/idat2"
	png_iend
} >"$I/bomb0.png"
expect "png: 100000x100000 with --max-pixels 0" 1 "$I/bomb0.png" png identity --max-pixels 0 "$I/bomb0.png" OUT
for wh in "0 8" "8 0" "2147483648 1" "1 4294967295"; do
	# shellcheck disable=SC2086
	set -- $wh
	{
		png_header "$1" "$2" 8 0
		png_iend
	} >"$I/size-$1x$2.png"
	image "png: ${1}x$2 IHDR" "$I/size-$1x$2.png"
done
for dc in "3 0" "16 3" "7 2" "8 5" "1 6"; do
	# shellcheck disable=SC2086
	set -- $dc
	{
		png_header 8 8 "$1" "$2"
		png_iend
	} >"$I/depth-$1-$2.png"
	image "png: bit depth $1 with colour type $2" "$I/depth-$1-$2.png"
done
{
	png_header 8 8 8 3
	png_chunk IDAT "$T/idat2"
	png_iend
} >"$I/no-plte.png"
image "png: palette image without PLTE" "$I/no-plte.png"
{
	png_header 8 8 8 0
	png_iend
} >"$I/no-idat.png"
image "png: no IDAT" "$I/no-idat.png"
head -c $((size - 12)) "$I/ok.png" >"$I/no-iend.png"
noise 12 >>"$I/no-iend.png"
image "png: IEND replaced by junk" "$I/no-iend.png"
BAD_STDIN="$I/cut45.png" expect "png: truncated, from stdin" 1 stdin png identity - OUT

# ---- JPEG ----
: >"$I/empty.jpg"
image "jpeg: empty" "$I/empty.jpg"
size=$(wc -c <"$I/ok.jpg")
for n in 2 3 20 100 400 $((size / 2)) $((size - 2)); do
	head -c "$n" "$I/ok.jpg" >"$I/cut$n.jpg"
	image "jpeg: truncated at $n of $size bytes" "$I/cut$n.jpg"
done
{
	bytes 255 216 255
	noise 2000
} >"$I/noise.jpg"
image "jpeg: garbage after SOI" "$I/noise.jpg"
sof=$(offset_of "$I/ok.jpg" 255 192)
for wh in "65000 65000" "0 512" "512 0" "65535 4097"; do
	# shellcheck disable=SC2086
	set -- $wh
	cp "$I/ok.jpg" "$I/sof-$1x$2.jpg"
	patch "$I/sof-$1x$2.jpg" $((sof + 5)) $(($2 >> 8)) $(($2 & 255)) $(($1 >> 8)) $(($1 & 255))
	image "jpeg: ${1}x$2 in SOF0" "$I/sof-$1x$2.jpg"
done
cp "$I/ok.jpg" "$I/sof-big.jpg"
patch "$I/sof-big.jpg" $((sof + 5)) 4 0 4 0
image "jpeg: SOF0 says 1024x1024, the data is 512x512" "$I/sof-big.jpg"
cp "$I/ok.jpg" "$I/components.jpg"
patch "$I/components.jpg" $((sof + 9)) 2
image "jpeg: SOF0's component count disagrees with its length" "$I/components.jpg"
cp "$I/ok.jpg" "$I/precision.jpg"
patch "$I/precision.jpg" $((sof + 4)) 12
image "jpeg: 12-bit precision" "$I/precision.jpg"
cp "$I/ok.jpg" "$I/entropy.jpg"
patch "$I/entropy.jpg" $((size / 2)) 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
image "jpeg: corrupt entropy-coded data" "$I/entropy.jpg"
head -c $((size - 2)) "$I/ok.jpg" >"$I/no-eoi.jpg"
image "jpeg: no EOI" "$I/no-eoi.jpg"
image "jpeg: CMYK" "$D/io/cmyk.jpg"
# A valid progressive JPEG of 704 scans (made by data/many-scans.py): over the 500 allowed.
image "jpeg: 704 progressive scans" "$(pwd)/tests/bad/data/many-scans.jpg"

# ---- PNM ----
: >"$I/empty.pgm"
image "pnm: empty" "$I/empty.pgm"
printf 'P5' >"$I/magic.pgm"
image "pnm: magic only" "$I/magic.pgm"
for hdr in "0 8 255" "8 0 255" "-8 8 255" "8 -8 255" "1000000 1000000 255" "65536 65536 255" \
	"99999999999999999999 1 255" "8 8 0" "8 8 70000" "8 8 -1" "8 8 255.0" "8x 8 255" "8 8"; do
	f="$I/p5-$(printf '%s' "$hdr" | tr ' ' '_').pgm"
	printf 'P5\n%s\n' "$hdr" >"$f"
	noise 64 >>"$f"
	image "pnm: P5 header '$hdr'" "$f"
done
printf 'P2\n2 2\n100\n1 2\n3 101\n' >"$I/above.pgm"
image "pnm: P2 sample above maxval" "$I/above.pgm"
printf 'P3\n1 1\n65535\n1 2 65536\n' >"$I/above16.ppm"
image "pnm: P3 sample above maxval 65535" "$I/above16.ppm"
printf 'P5\n2 1\n100\n\001\145' >"$I/above-raw.pgm"
image "pnm: P5 byte above maxval" "$I/above-raw.pgm"
printf 'P5\n1 1\n1000\n\003\351' >"$I/above-raw16.pgm"
image "pnm: P5 16-bit sample above maxval" "$I/above-raw16.pgm"
printf 'P2\n2 2\n255\n1 2\n3\n' >"$I/short-plain.pgm"
image "pnm: P2 with too few samples" "$I/short-plain.pgm"
printf 'P2\n2 2\n255\n1 2\n3 x\n' >"$I/token.pgm"
image "pnm: P2 with a garbage token" "$I/token.pgm"
printf 'P2\n2 2\n255\n1 2\n3 -4\n' >"$I/negative.pgm"
image "pnm: P2 with a negative sample" "$I/negative.pgm"
printf 'P2\n2 2\n255\n1 2\n3 4.5\n' >"$I/fraction.pgm"
image "pnm: P2 with a fraction" "$I/fraction.pgm"
printf 'P2\n2 2\n255\n1 2 3 99999999999999999999999\n' >"$I/long.pgm"
image "pnm: P2 with a 23-digit sample" "$I/long.pgm"
printf 'P5\n4 4\n255\n0123456789' >"$I/short.pgm"
image "pnm: truncated P5 data" "$I/short.pgm"
printf 'P6\n4 4\n255\n' >"$I/nodata.ppm"
image "pnm: P6 with no data" "$I/nodata.ppm"
{
	printf 'P6\n4 4\n65535\n'
	noise 95
} >"$I/short16.ppm"
image "pnm: truncated 16-bit P6 data" "$I/short16.ppm"
printf 'P5\n16384 16384\n255\n' >"$I/bomb.pgm"
noise 100 >>"$I/bomb.pgm"
image "pnm: 16384x16384 header on 100 bytes" "$I/bomb.pgm"
printf 'P2\n16384 16384\n255\n1 2 3\n' >"$I/bomb-plain.pgm"
image "pnm: plain 16384x16384 header on 6 bytes" "$I/bomb-plain.pgm"
printf 'P4\n8 8\n' >"$I/pbm.pbm"
image "pnm: P4 (PBM)" "$I/pbm.pbm"
printf 'P7\nWIDTH 2\nHEIGHT 1\nDEPTH 1\nMAXVAL 255\nENDHDR\n\000' >"$I/pam.pam"
image "pnm: P7 (PAM) truncated" "$I/pam.pam"
printf 'P7\nWIDTH 2\nHEIGHT 1\nDEPTH 1\nENDHDR\n\000\000' >"$I/pam-nomax.pam"
image "pnm: P7 (PAM) without MAXVAL" "$I/pam-nomax.pam"
printf 'P5 # a comment that never ends' >"$I/comment.pgm"
image "pnm: comment to the end of the file" "$I/comment.pgm"
printf 'P5\n2\0012\n255\n\000\000\000\000' >"$I/ctrl.pgm"
image "pnm: control byte in the header" "$I/ctrl.pgm"
{
	printf 'P6\n'
	noise 500
} >"$I/noise.ppm"
image "pnm: random bytes after P6" "$I/noise.ppm"

# ---- NPY ----
: >"$I/empty.npy"
image "npy: empty" "$I/empty.npy"
printf '\223NUMPY\001' >"$I/magic.npy"
image "npy: magic only" "$I/magic.npy"
cp "$I/ok.npy" "$I/badmagic.npy"
patch "$I/badmagic.npy" 5 90
image "npy: bad magic" "$I/badmagic.npy"
{
	printf '\223NUMPY\001\000'
	noise 500
} >"$I/noise.npy"
image "npy: random bytes after the magic" "$I/noise.npy"
{
	printf '\223NUMPY\003\000'
	le32 1000
	printf "{'descr': '<u1', 'fortran_order': False, 'shape': (1, 1), }"
} >"$I/hlen3.npy"
image "npy: version 3 header length past the end of the file" "$I/hlen3.npy"
for v in 0 4 255; do
	cp "$I/ok.npy" "$I/version$v.npy"
	patch "$I/version$v.npy" 6 "$v"
	image "npy: version $v.0" "$I/version$v.npy"
done
cp "$I/ok.npy" "$I/hlen.npy"
patch "$I/hlen.npy" 8 255 255
image "npy: header length past the end of the file" "$I/hlen.npy"
{
	printf '\223NUMPY\002\000'
	le32 2147483647
	printf '{}'
} >"$I/hlen2.npy"
image "npy: 2 GiB header length (version 2)" "$I/hlen2.npy"
for d in "<i4" "<c8" "|O" "<f2" "<U8" "f4" "<f44" "" "|f4"; do
	npy "$I/dtype.npy" "$d" "(2, 2)"
	head -c 64 "$I/noise.png" >>"$I/dtype.npy"
	f="$I/dtype-$(printf '%s' "$d" | tr -c 'a-z0-9' '_').npy"
	mv "$I/dtype.npy" "$f"
	image "npy: dtype '$d'" "$f"
done
npy "$I/fortran.npy" "<u1" "(2, 2)" True
printf '\001\002\003\004' >>"$I/fortran.npy"
image "npy: Fortran order" "$I/fortran.npy"
for shape in "(0, 4)" "(4, 0)" "(2, 2, 0)" "(2, 2, 1, 1)" "(4,)" "()" "(1000000, 1000000)" \
	"(16384, 16384, 65535)" "(2, 2, 70000)" "(-2, 2)" "(2, 2" "[2, 2]" "(99999999999999999999, 1)"; do
	npy "$I/shape.npy" "<u1" "$shape"
	noise 64 >>"$I/shape.npy"
	f="$I/shape-$(printf '%s' "$shape" | tr -c '0-9' '_').npy"
	mv "$I/shape.npy" "$f"
	image "npy: shape $shape" "$f"
done
npy "$I/short.npy" "<f4" "(4, 4)"
noise 63 >>"$I/short.npy"
image "npy: truncated float32 data" "$I/short.npy"
npy "$I/short8.npy" "<f8" "(3, 3, 3)"
noise 215 >>"$I/short8.npy"
image "npy: truncated float64 data" "$I/short8.npy"
npy "$I/nodata.npy" "<u2" "(1, 1)"
image "npy: no data" "$I/nodata.npy"
# gray takes gray and RGB, with or without alpha: a .npy of 4 or 2 channels has no alpha.
for c in 2 4 5; do
	npy "$I/chan$c.npy" "<u1" "(2, 2, $c)"
	noise $((4 * c)) >>"$I/chan$c.npy"
	expect "npy: gray of $c channels" 1 "chan$c.npy: gray takes gray" png gray "$I/chan$c.npy" OUT
done
# An image with alpha to JPEG or PNM without --flatten: refused, naming the option.
expect "alpha: RGBA to JPEG" 1 "--flatten" jpg identity "$S/horse.png" OUT
expect "alpha: RGBA blurred to PNM" 1 "--flatten" pnm gaussian --sigma 1 "$S/horse.png" OUT
for h in "{'descr': '<u1', 'shape': (1, 1), }" "{'descr': '<u1', 'fortran_order': False, }" \
	"{'descr': '<u1', 'fortran_order': Maybe, 'shape': (1, 1), }" \
	"{'descr': '<u1', 'fortran_order': False, 'shape': (1, 1), 'extra': 1, }" "not a dict" \
	"{'descr': '<u1$(printf '\001')', 'fortran_order': False, 'shape': (1, 1), }" "{'descr"; do
	{
		printf '\223NUMPY\001\000'
		le16 ${#h}
		printf '%s' "$h"
		printf '\001'
	} >"$I/dict.npy"
	f="$I/dict-$(printf '%s' "$h" | cksum | cut -d' ' -f1).npy"
	mv "$I/dict.npy" "$f"
	image "npy: header $h" "$f"
done

# NaN and infinities are data: they load, and filters carry them without crashing.
npy "$I/nan.npy" "<f4" "(2, 3)"
bytes 0 0 192 127 0 0 128 127 0 0 128 255 0 0 128 63 255 255 255 255 1 0 0 0 >>"$I/nan.npy"
for c in "box" "blur --size 5" "sharpen" "relu" "maxpool" "avgpool" "invert"; do
	# shellcheck disable=SC2086
	run_out "$T/out/nan.npy" $c "$I/nan.npy" OUT
	if [ "$status" -eq 0 ]; then
		case_result "npy: NaN and infinities through $c" ""
	else
		case_result "npy: NaN and infinities through $c" "exit status $status: $err"
	fi
done
run_out "$T/out/nan.png" box "$I/nan.npy" OUT
[ "$status" -eq 0 ] && case_result "npy: NaN and infinities to PNG" "" ||
	case_result "npy: NaN and infinities to PNG" "exit status $status: $err"

# ---- Kernels ----
# k FILE FORMAT: a kernel file made with printf FORMAT.
# shellcheck disable=SC2059
k() { printf -- "$2" >"$I/$1"; }
k empty.txt ''
kernel "kernel: empty" "$I/empty.txt"
k blank.txt '\n  \n# only a comment\n'
kernel "kernel: only blanks and comments" "$I/blank.txt"
k ragged.txt '1 2 3\n4 5\n'
kernel "kernel: ragged rows" "$I/ragged.txt"
k ragged2.txt '1 2\n3 4 5\n'
kernel "kernel: a row too long" "$I/ragged2.txt"
k nan.txt '1 nan 1\n'
kernel "kernel: NaN" "$I/nan.txt"
k inf.txt '1 inf 1\n'
kernel "kernel: inf" "$I/inf.txt"
k huge.txt '1 1e999 1\n'
kernel "kernel: 1e999" "$I/huge.txt"
k hex.txt '0x10 1\n'
kernel "kernel: a hex number" "$I/hex.txt"
k word.txt '1 2 x\n'
kernel "kernel: a word" "$I/word.txt"
k comma.txt '1,,2\n'
kernel "kernel: two commas" "$I/comma.txt"
k scale0.txt 'scale 1/0\n1 1\n'
kernel "kernel: scale 1/0" "$I/scale0.txt"
k scalebig.txt 'scale 1e300/1e-300\n1\n'
kernel "kernel: scale too large" "$I/scalebig.txt"
k scale2.txt 'scale 2\nscale 3\n1\n'
kernel "kernel: two scales" "$I/scale2.txt"
k scalelate.txt '1\nscale 2\n'
kernel "kernel: scale after the rows" "$I/scalelate.txt"
k scaleword.txt 'scale half\n1\n'
kernel "kernel: scale is a word" "$I/scaleword.txt"
k directive.txt 'offset 3\n1\n'
kernel "kernel: unknown directive" "$I/directive.txt"
k slices.txt '1 2\n---\n1 2\n3 4\n'
kernel "kernel: slices of different heights" "$I/slices.txt"
k bank.txt '1\n---\n1\n===\n1\n'
kernel "kernel: filters of different depths" "$I/bank.txt"
k sep.txt '---\n1\n'
kernel "kernel: separator first" "$I/sep.txt"
k sepend.txt '1\n===\n'
kernel "kernel: separator last" "$I/sepend.txt"
k nul.txt '1 2\n3\0004\n'
kernel "kernel: NUL byte" "$I/nul.txt"
k depth.txt '1\n---\n1\n'
kernel "kernel: depth 2 on a 1-channel image" "$I/depth.txt"
awk 'BEGIN { for (i = 0; i < 4097; i++) printf "1 "; print "" }' >"$I/wide.txt"
kernel "kernel: a row of 4097 numbers" "$I/wide.txt"
awk 'BEGIN { for (i = 0; i < 4097; i++) print "1" }' >"$I/tall.txt"
kernel "kernel: 4097 rows" "$I/tall.txt"
k long.txt "$(awk 'BEGIN { for (i = 0; i < 300; i++) printf "1"; print "" }')\n"
kernel "kernel: a 300-digit number" "$I/long.txt"
k zero.mat '0 3\n1 1 1\n'
kernel ".mat: 0 width" "$I/zero.mat"
k zeroh.mat '3 0\n'
kernel ".mat: 0 height" "$I/zeroh.mat"
k neg.mat '-3 1\n1 1 1\n'
kernel ".mat: negative width" "$I/neg.mat"
k frac.mat '2.5 1\n1 1\n'
kernel ".mat: fractional width" "$I/frac.mat"
k big.mat '4097 1\n1\n'
kernel ".mat: 4097 wide" "$I/big.mat"
k bomb.mat '4096 4096\n1\n'
kernel ".mat: 4096x4096 header with one number" "$I/bomb.mat"
k empty.mat ''
kernel ".mat: empty" "$I/empty.mat"
k count.mat '3 2\n1 2 3\n'
kernel ".mat: fewer rows than the header" "$I/count.mat"
k count2.mat '2 1\n1 2\n3 4\n'
kernel ".mat: more rows than the header" "$I/count2.mat"
k count3.mat '3 1\n1 2\n'
kernel ".mat: a short row" "$I/count3.mat"
k count4.mat '2 1\n1 2 3\n'
kernel ".mat: a long row" "$I/count4.mat"
k scale0.mat '1 1 0\n1\n'
kernel ".mat: scale 0" "$I/scale0.mat"
k nan.mat '2 1\n1 nan\n'
kernel ".mat: NaN" "$I/nan.mat"
k inf.mat '2 1 inf\n1 1\n'
kernel ".mat: infinite scale" "$I/inf.mat"
k head.mat '1 1 1 0 9\n1\n'
kernel ".mat: five header numbers" "$I/head.mat"
k word.mat 'w h\n1\n'
kernel ".mat: words for the size" "$I/word.mat"
expect "kernel: missing file" 1 "$I/missing.txt" png conv -k "$I/missing.txt" "$D/net/seg_small.input.pgm" OUT
expect "kernel: a directory" 1 "$I" png conv -k "$I" "$D/net/seg_small.input.pgm" OUT
k sum0.txt '1 -1\n'
expect "kernel: --normalize with a zero sum" 1 "$I/sum0.txt" png conv --normalize -k "$I/sum0.txt" \
	"$D/net/seg_small.input.pgm" OUT
for f in nan.txt ragged.txt count.mat; do
	expect "kernel: info on a bad $f" 1 "$I/$f" png info "$I/$f"
done

# ---- Models ----
# m NAME LINES...: a model file whose header lines are LINES (then text weights, if any).
m() {
	f="$I/$1"
	shift
	{
		printf 'cnnf-model 1\n'
		printf '%s\n' "$@"
	} >"$f"
}
# The good model: 1x5x5 -> conv 2 3x3 -> 2x3x3 -> fc 2 -> 2x1x1; 2*9+2 + 2*18+2 = 58 values.
good_w() { awk -v n="${1:-58}" 'BEGIN { for (i = 0; i < n; i++) printf "0.%d ", i % 10; print "" }'; }
head_lines='input channels=1 height=5 width=5'
m ok.cnnf "$head_lines" 'conv out=2 kernel=3' 'relu' 'fc out=2' 'softmax' 'weights text 58' "$(good_w)"
run_out "$T/out/ok.png" segment --model "$I/ok.cnnf" "$D/net/seg_small.input.pgm" OUT
[ "$status" -eq 0 ] || echo "bad: the good model fails: $err"
: >"$I/empty.cnnf"
model "model: empty" "$I/empty.cnnf"
printf 'cnnf-model 2\n' >"$I/version.cnnf"
model "model: version 2" "$I/version.cnnf"
printf 'cnnf-modl 1\n' >"$I/magic.cnnf"
model "model: bad magic" "$I/magic.cnnf"
m noweights.cnnf "$head_lines" 'conv out=2 kernel=3' 'fc out=2'
model "model: no weights line" "$I/noweights.cnnf"
m layer.cnnf "$head_lines" 'conv out=2 kernel=3' 'lstm out=2' 'fc out=2' 'weights init'
model "model: unknown layer" "$I/layer.cnnf"
m key.cnnf "$head_lines" 'conv out=2 kernel=3 groups=2' 'fc out=2' 'weights init'
model "model: unknown key" "$I/key.cnnf"
m dup.cnnf "$head_lines" 'conv out=2 kernel=3 out=3' 'fc out=2' 'weights init'
model "model: duplicate key" "$I/dup.cnnf"
m relukey.cnnf "$head_lines" 'conv out=2 kernel=3' 'relu inplace=1' 'fc out=2' 'weights init'
model "model: a key on relu" "$I/relukey.cnnf"
m noinput.cnnf 'conv out=2 kernel=3' 'fc out=2' 'weights init'
model "model: no input line" "$I/noinput.cnnf"
m input2.cnnf "$head_lines" "$head_lines" 'fc out=2' 'weights init'
model "model: two input lines" "$I/input2.cnnf"
m count.cnnf "$head_lines" 'conv out=2 kernel=3' 'relu' 'fc out=2' 'softmax' 'weights text 57' "$(good_w 57)"
model "model: weights count says 57, the layers need 58" "$I/count.cnnf"
m fewer.cnnf "$head_lines" 'conv out=2 kernel=3' 'relu' 'fc out=2' 'softmax' 'weights text 58' "$(good_w 57)"
model "model: 57 text values for 58" "$I/fewer.cnnf"
m more.cnnf "$head_lines" 'conv out=2 kernel=3' 'relu' 'fc out=2' 'softmax' 'weights text 58' "$(good_w 59)"
model "model: 59 text values for 58" "$I/more.cnnf"
m nan.cnnf "$head_lines" 'conv out=2 kernel=3' 'relu' 'fc out=2' 'softmax' 'weights text 58' "nan $(good_w 57)"
model "model: NaN weight (text)" "$I/nan.cnnf"
m inf.cnnf "$head_lines" 'conv out=2 kernel=3' 'relu' 'fc out=2' 'softmax' 'weights text 58' "$(good_w 57) 1e39"
model "model: weight beyond float32 (text)" "$I/inf.cnnf"
m word.cnnf "$head_lines" 'conv out=2 kernel=3' 'relu' 'fc out=2' 'softmax' 'weights text 58' "$(good_w 57) x"
model "model: a word among the weights" "$I/word.cnnf"
m bin.cnnf "$head_lines" 'conv out=2 kernel=3' 'relu' 'fc out=2' 'softmax' 'weights float32 58'
cp "$I/bin.cnnf" "$I/bin-nan.cnnf"
head -c 232 /dev/zero >>"$I/bin.cnnf"
cp "$I/bin.cnnf" "$I/bin-cut.cnnf"
{
	head -c 100 /dev/zero
	bytes 0 0 192 127
	head -c 128 /dev/zero
} >>"$I/bin-nan.cnnf"
model "model: NaN weight (float32)" "$I/bin-nan.cnnf"
cp "$I/bin.cnnf" "$I/bin-inf.cnnf"
patch "$I/bin-inf.cnnf" $(($(wc -c <"$I/bin.cnnf") - 4)) 0 0 128 255
model "model: -inf weight (float32)" "$I/bin-inf.cnnf"
head -c 100 /dev/zero >>"$I/bin-cut.cnnf"
head -c $(($(wc -c <"$I/bin.cnnf") - 3)) "$I/bin.cnnf" >"$I/bin-short.cnnf"
model "model: truncated float32 weights" "$I/bin-short.cnnf"
model "model: bytes after the float32 weights" "$I/bin-cut.cnnf"
m bomb.cnnf 'input channels=1 height=4096 width=4096' 'conv out=65536 kernel=4096' 'fc out=2' 'weights init'
model "model: conv out=65536 kernel=4096 on 4096x4096" "$I/bomb.cnnf"
m bomb2.cnnf 'input channels=65536 height=65536 width=65536' 'fc out=2' 'weights init'
model "model: 65536x65536x65536 input" "$I/bomb2.cnnf"
m bomb3.cnnf 'input channels=64 height=1024 width=1024' 'fc out=65536' 'weights init'
model "model: fc with 2^42 weights" "$I/bomb3.cnnf"
m bomb4.cnnf "$head_lines" 'conv out=65536 kernel=1' 'conv out=65536 kernel=1' 'fc out=2' 'weights init'
model "model: 2^32 weights over two layers" "$I/bomb4.cnnf"
m bank.cnnf 'input channels=1 height=4096 width=4096' 'fc out=15' 'weights init'
model "model: fc of 15 x 4096 x 4096 weights, over the engine's 2^26" "$I/bank.cnnf"
m act.cnnf 'input channels=1 height=8192 width=8192' 'conv out=64 kernel=1' 'fc out=2' 'weights init'
model "model: 2^32 activations" "$I/act.cnnf"
m bigsize.cnnf 'input channels=1 height=65537 width=1' 'fc out=2' 'weights init'
model "model: height 65537" "$I/bigsize.cnnf"
m output.cnnf "$head_lines" 'conv out=2 kernel=3' 'weights init'
model "model: final output 2x3x3, not K x 1 x 1" "$I/output.cnnf"
m one.cnnf "$head_lines" 'fc out=1' 'weights init'
model "model: final output of one class" "$I/one.cnnf"
m softmax.cnnf "$head_lines" 'conv out=2 kernel=3' 'softmax' 'fc out=2' 'weights init'
model "model: softmax not last" "$I/softmax.cnnf"
m fit.cnnf "$head_lines" 'conv out=2 kernel=7' 'fc out=2' 'weights init'
model "model: kernel larger than its input" "$I/fit.cnnf"
m pool.cnnf "$head_lines" 'maxpool kernel=6' 'fc out=2' 'weights init'
model "model: pool larger than its input" "$I/pool.cnnf"
for kv in 'out=2 kernel=3 stride=0' 'out=2 kernel=3 pad=-1' 'out=2 kernel=3 dilation=0' \
	'out=0 kernel=3' 'out=2 kernel=0' 'out=2 kernel=3x' 'out=2 kernel=x3' 'out=1e3 kernel=3' \
	'out=2.5 kernel=3' 'out=99999999999999999999 kernel=3' 'out=2' 'kernel=3' 'out= kernel=3' \
	'out = 2 kernel=3'; do
	m kv.cnnf "$head_lines" "conv $kv" 'fc out=2' 'weights init'
	f="$I/kv-$(printf '%s' "$kv" | tr -c 'a-z0-9' '_').cnnf"
	mv "$I/kv.cnnf" "$f"
	model "model: conv $kv" "$f"
done
m eps.cnnf "$head_lines" 'batchnorm eps=0' 'fc out=2' 'weights init'
model "model: batchnorm eps=0" "$I/eps.cnnf"
m epsnan.cnnf "$head_lines" 'batchnorm eps=nan' 'fc out=2' 'weights init'
model "model: batchnorm eps=nan" "$I/epsnan.cnnf"
m drop.cnnf "$head_lines" 'dropout p=1' 'fc out=2' 'weights init'
model "model: dropout p=1" "$I/drop.cnnf"
m var.cnnf "$head_lines" 'batchnorm' 'fc out=2' 'weights text 56' "0 0 0 -1 $(good_w 52)"
model "model: negative running_var" "$I/var.cnnf"
m std.cnnf 'input channels=1 height=5 width=5 std=0' 'fc out=2' 'weights init'
model "model: std=0" "$I/std.cnnf"
m mean.cnnf 'input channels=3 height=5 width=5 mean=1,2' 'fc out=2' 'weights init'
model "model: 2 means for 3 channels" "$I/mean.cnnf"
m labels.cnnf "$head_lines" 'labels a b c' 'fc out=2' 'weights init'
model "model: 3 labels for 2 classes" "$I/labels.cnnf"
m labels2.cnnf "$head_lines" 'fc out=2' 'labels a b' 'weights init'
model "model: labels after the layers" "$I/labels2.cnnf"
m ctrl.cnnf "$head_lines" "$(printf 'labels a\033[2Jb c')" 'fc out=2' 'weights init'
model "model: a control character in a label" "$I/ctrl.cnnf"
m init.cnnf "$head_lines" 'fc out=2' 'weights init' '1 2 3'
model "model: values after weights init" "$I/init.cnnf"
m fmt.cnnf "$head_lines" 'fc out=2' 'weights float16 50'
model "model: weights float16" "$I/fmt.cnnf"
m channels.cnnf 'input channels=3 height=5 width=5' 'fc out=2' 'weights text 152' "$(good_w 152)"
# The model is fine; the image does not fit it, and the message says so.
expect "model: 3 channels for a 1-channel image" 1 "$D/net/seg_small.input.pgm" png \
	segment --model "$I/channels.cnnf" "$D/net/seg_small.input.pgm" OUT
{
	printf 'cnnf-model 1\n%s\nfc out=2\nweights text 52\n' "$head_lines"
	good_w 50 | tr -d '\n'
	bytes 0
	printf ' 1\n'
} >"$I/nul.cnnf"
model "model: NUL byte among the weights" "$I/nul.cnnf"
expect "model: missing file" 1 "$I/missing.cnnf" png segment --model "$I/missing.cnnf" "$D/net/seg_small.input.pgm" OUT
for f in layer.cnnf bomb.cnnf bin-short.cnnf; do
	expect "model: info on $f" 1 "$I/$f" png info "$I/$f"
done

# ---- Bad option values: exit 2 ----
P="$D/net/seg_small.input.pgm"
usage "option: zero stride" "--stride" box --stride 0 "$P" OUT
usage "option: negative pad" "--pad" box --pad -1 "$P" OUT
usage "option: pad beyond the limit" "--pad" box --pad 99999999999 "$P" OUT
# Only a strip of a filter's output is in memory, so the pixel limit guards the output too.
expect "output: --pad making the output larger than the pixel limit" 1 "$T/out/result.png" png \
	box --pad 200000 "$P" OUT
# A band of 1073741824 rows of 1179648 samples in 32768 channels: 2^66 bytes, which wraps.
npy "$I/deep.npy" '<f4' '(1, 36, 32768)'
head -c $((36 * 32768 * 4)) /dev/zero >>"$I/deep.npy"
awk 'BEGIN { for (i = 0; i < 3642; i++) print (i % 2 ? "0 1 0 1 0" : "1 0 0 0 1") }' >"$I/tall.txt"
expect "kernel: band buffer size overflows" 1 "$I/tall.txt" npy conv -k "$I/tall.txt" \
	--dilation 294903 -t 1 "$I/deep.npy" OUT
usage "option: unknown border" "--border" box --border mirror "$P" OUT
usage "option: zero size" "--size" box --size 0 "$P" OUT
usage "option: size x" "--size" box --size x "$P" OUT
usage "option: zero dilation" "--dilation" conv --kernel-string 1 --dilation 0 "$P" OUT
usage "option: quality 0" "--quality" box --quality 0 "$P" OUT
usage "option: quality 101" "--quality" box --quality 101 "$P" OUT
usage "option: --threads -1" "--threads" box --threads -1 "$P" OUT
usage "option: --threads 1e3" "--threads" box --threads 1e3 "$P" OUT
usage "option: --max-pixels x" "--max-pixels" box --max-pixels x "$P" OUT
usage "option: --max-pixels -1" "--max-pixels" box --max-pixels -1 "$P" OUT
usage "option: --depth 12" "--depth" box --depth 12 "$P" OUT
usage "option: --format gif" "--format" box --format gif "$P" OUT
usage "option: --gamma 0" "--gamma" gamma --gamma 0 "$P" OUT
usage "option: --gamma nan" "--gamma" gamma --gamma nan "$P" OUT
usage "option: --factor inf" "--factor" contrast --factor inf "$P" OUT
usage "option: --offset x" "--offset" conv --kernel-string 1 --offset x "$P" OUT
usage "option: --mode foo" "--mode" segment --model "$I/ok.cnnf" --mode foo "$P" OUT
usage "option: --kernel-string nan" "kernel-string" conv --kernel-string '1 nan' "$P" OUT
usage "option: --kernel-string ragged" "kernel-string" conv --kernel-string '1 2; 3' "$P" OUT
usage "option: --dx x" "--dx" shift --dx x "$P" OUT

# ---- Cases kept in files of their own, one per concern (tests/bad/cases/*.sh) ----
# Each is sourced here with the helpers above; P is a small valid image.
for f in "$(pwd)"/tests/bad/cases/*.sh; do
	[ -f "$f" ] || continue
	. "$f"
done

# ---- The fuzzers' findings: each input once through its harness, once through cnnf ----
for dir in "$R"/*/; do
	t=$(basename "$dir")
	for f in "$dir"*; do
		[ -f "$f" ] || continue
		problem=""
		if [ -x "$PLAIN/fuzz_$t" ]; then
			limited "$PLAIN/fuzz_$t" "$f" >"$T/stdout" 2>"$T/stderr"
			s=$?
			[ "$s" -eq 0 ] || problem="fuzz_$t exits with $s: $(head -c 300 "$T/stderr")"
		else
			problem="no $PLAIN/fuzz_$t (make check builds it)"
		fi
		case $t in
		kernel) set -- conv -k "$f" "$P" OUT ;;
		model) set -- segment --model "$f" "$P" OUT ;;
		*) set -- identity "$f" OUT ;;
		esac
		rm -rf "$T/out"
		mkdir "$T/out"
		run_out "$T/out/result.png" "$@"
		# A finding may be a valid file that crashed something: then cnnf must succeed.
		if [ -z "$problem" ] && [ "$status" -ne 0 ]; then
			problem=$(why_not 1 "$f")
			[ -z "$problem" ] && [ -n "$(ls -A "$T/out")" ] && problem="left $(ls -A "$T/out")"
		fi
		case_result "regress: $t/$(basename "$f")" "$problem"
	done
done

echo "bad: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && rm -rf "$T"
[ "$fail" -eq 0 ]
