# tests/bad/cases/engine.sh: sourced by tests/bad/run.sh. Geometry that once cost hours or
# gigabytes (a box of 4095, a dilation of 10000 or 65536) must finish in seconds under the
# address-space limit, with the right result, or fail with one line naming the cause.
#
# The right result is known without a reference: with the wrap border, taps a multiple of
# the image's size apart read the same pixel, so a box (or sharpen) at such a dilation gives
# the image back, and a box as large as a multiple of the image averages all of it.

# engine_ok NAME WANT ARG...: cnnf ARG... (OUT: $I/engine.pgm) must succeed within 10 s,
# under the limit, and write the same bytes as the file WANT.
engine_ok() {
	name=$1 want=$2
	shift 2
	n=$#
	for a in "$@"; do
		[ "$a" = OUT ] && a="$I/engine.pgm"
		set -- "$@" "$a"
	done
	shift "$n"
	rm -f "$I/engine.pgm"
	saved_timeout=$BAD_TIMEOUT
	BAD_TIMEOUT=10
	limited "$CNNF" "$@" </dev/null >"$T/stdout" 2>"$T/stderr"
	status=$?
	BAD_TIMEOUT=$saved_timeout
	err=$(cat "$T/stderr")
	problem=""
	if [ "$status" -eq 124 ]; then
		problem="timed out after 10s"
	elif [ "$status" -ne 0 ]; then
		problem="exit status $status: $err"
	elif ! cmp -s "$I/engine.pgm" "$want"; then
		problem="the result differs from $(basename "$want")"
	fi
	case_result "$name" "$problem"
}

# The 8 x 8 image ok.pgm as cnnf writes it, and an 8 x 8 image of its mean rounded half up.
"$CNNF" identity "$I/ok.pgm" "$I/engine-same.pgm"
mean=$(awk 'BEGIN { for (i = 0; i < 64; i++) s += (i * 37) % 256; printf "%d", int((2 * s + 64) / 128) }')
{
	printf 'P2\n8 8\n255\n'
	i=0
	while [ $i -lt 64 ]; do
		printf '%d\n' "$mean"
		i=$((i + 1))
	done
} >"$I/engine-mean-in.pgm"
"$CNNF" identity "$I/engine-mean-in.pgm" "$I/engine-mean.pgm"

engine_ok "engine: box --size 4095 on 8x8" "$I/engine-mean.pgm" \
	box --size 4088 --border wrap "$I/ok.pgm" OUT
engine_ok "engine: box --size 4095, reflected, of a flat image" "$I/engine-mean.pgm" \
	box --size 4095 "$I/engine-mean-in.pgm" OUT
engine_ok "engine: box --dilation 10000" "$I/engine-same.pgm" \
	box --dilation 10000 --border wrap "$I/ok.pgm" OUT
engine_ok "engine: box --dilation 65536" "$I/engine-same.pgm" \
	box --dilation 65536 --border wrap "$I/ok.pgm" OUT
engine_ok "engine: sharpen --dilation 65536 (not a box)" "$I/engine-same.pgm" \
	sharpen --dilation 65536 --border wrap "$I/ok.pgm" OUT
engine_ok "engine: box --size 4095 --dilation 65536" "$I/engine-same.pgm" \
	box --size 4095 --dilation 65536 --border wrap "$I/ok.pgm" OUT
# 4094 gaps of 2^20 do not fit the padding's int: refused, naming the dilation, not the output.
expect "engine: box --size 4095 --dilation 1048576" 1 "--dilation" pgm \
	box --size 4095 --dilation 1048576 "$P" OUT
