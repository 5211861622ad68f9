# tests/bad/cases/inputs.sh: streams that never end, and files that promise more than they
# hold, are refused from their first bytes or at a bound, in well under BAD_TIMEOUT=10 s
# (sourced by tests/bad/run.sh). Each once ran for minutes or read gigabytes.
saved_timeout=$BAD_TIMEOUT
BAD_TIMEOUT=10

# An image on standard input, or a device, that is no image: refused from its first bytes.
BAD_STDIN=/dev/zero expect "input: stdin from /dev/zero" 1 "stdin" png box - OUT
expect "input: /dev/zero as the image" 1 "/dev/zero" png box /dev/zero OUT
# A model or kernel that is a stream of NUL bytes.
expect "input: /dev/zero as the model" 1 "/dev/zero" png segment --model /dev/zero "$P" OUT
expect "input: /dev/zero as the kernel" 1 "/dev/zero" png conv -k /dev/zero "$P" OUT
# A train list without newlines: the line limit ends it.
expect "input: /dev/zero as the train list" 1 "/dev/zero" cnnf \
	train --model "$S/models/coins-arch.cnnf" --output OUT /dev/zero
# The list's images together obey the pixel limit.
for i in 1 2 3 4; do printf '%s %s\n' "$S/coins.png" "$S/models/coins-truth.png"; done >"$I/four.list"
expect "input: a train list's images past --max-pixels together" 1 "$I/four.list:3" cnnf \
	train --model "$S/models/coins-arch.cnnf" --max-pixels 300000 --output OUT "$I/four.list"
# `info` on an endless stream ends.
timeout 10 "$CNNF" info /dev/zero >"$T/stdout" 2>"$T/stderr"
status=$?
err=$(cat "$T/stderr")
case_result "input: info /dev/zero" "$(why_not 1 /dev/zero)"
# --normalize sums exactly: 1e308 - 1e308 + 1 is 1, not zero; 0.1 0.2 -0.3 is zero.
run_out "$T/out.png" conv --normalize --kernel-string '1e308 -1e308 1' "$P" "$T/out.png"
case_result "input: --normalize sums 1e308 -1e308 1 exactly" \
	"$([ "$status" -eq 0 ] || echo "exit $status: $err")"
rm -f "$T/out.png"
expect "input: --normalize of a decimal zero sum" 1 "sums to zero" png \
	conv --normalize --kernel-string '0.1 0.2 -0.3' "$P" OUT

BAD_TIMEOUT=$saved_timeout
