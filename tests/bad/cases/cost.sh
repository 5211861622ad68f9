# tests/bad/cases/cost.sh: jobs whose cost is out of proportion to their input are refused
# by --max-work before any work, and a model without weights is refused by segment. Sourced
# by tests/bad/run.sh. Each case runs under BAD_TIMEOUT=10, so that a regression that does
# the work fails in seconds instead of holding CI for hours.
saved_timeout=$BAD_TIMEOUT
BAD_TIMEOUT=10

# A model of 8 T multiply-adds a patch in 150 bytes: refused whatever the image's size.
arch='input channels=1 height=128 width=128 mean=0 std=1|conv out=512 kernel=31 pad=15|maxpool kernel=128|fc out=2|softmax'
IFS='|'
# shellcheck disable=SC2086
m heavy.cnnf $arch 'weights init'
unset IFS
expect "cost: segment with a weights-init model" 1 "$I/heavy.cnnf" png \
	segment --model "$I/heavy.cnnf" "$P" OUT
# The same architecture with weights (text zeros): refused by its cost, naming the image.
n=$((512 * 961 + 512 + 2 * 512 + 2))
IFS='|'
# shellcheck disable=SC2086
m heavyw.cnnf $arch "weights text $n"
unset IFS
awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "0 "; print "" }' >>"$I/heavyw.cnnf"
expect "cost: segment, patch mode, past --max-work" 1 "$S/coins.png" png \
	segment --model "$I/heavyw.cnnf" --mode patch "$S/coins.png" OUT
expect "cost: segment, dense mode, past --max-work" 1 "--max-work" png \
	segment --model "$I/heavyw.cnnf" --mode dense "$S/coins.png" OUT
expect "cost: segment under a lower --max-work" 1 "--max-work 1000" png \
	segment --model "$I/ok.cnnf" --max-work 1000 "$P" OUT
# Training: 10 epochs of that model over the sample pair.
printf '%s %s\n' "$S/coins.png" "$S/models/coins-truth.png" >"$I/heavy.list"
expect "cost: train past --max-work" 1 "$I/heavy.list" cnnf \
	train --model "$I/heavy.cnnf" --output OUT "$I/heavy.list"
# Filters: a 4095x4095 random kernel is 16.8 M multiply-adds a sample.
awk 'BEGIN { srand(7); for (i = 0; i < 255; i++) { for (j = 0; j < 255; j++) printf "%d ", int(rand() * 19) - 9; print "" } }' >"$I/k255.txt"
expect "cost: conv past a lower --max-work" 1 "--max-work" png \
	conv -k "$I/k255.txt" --max-work 1e6 "$P" OUT
expect "cost: maxpool past a lower --max-work" 1 "--max-work" png \
	maxpool --size 100 --stride 1 --max-work 1e6 "$S/coins.png" OUT
usage "cost: --max-work -1" "--max-work" box --max-work -1 "$P" OUT
usage "cost: --max-work x" "--max-work" box --max-work x "$P" OUT
usage "cost: --max-work for a point operation" "--max-work" invert --max-work 5 "$P" OUT

BAD_TIMEOUT=$saved_timeout
