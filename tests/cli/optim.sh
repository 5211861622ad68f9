#!/bin/sh
# tests/cli/optim.sh: cnnf train's --optimizer, --schedule and their hyperparameters, and
# --augment, --class-weights and --patience: the default recipe is plain SGD, Adam and AdamW
# learn the squares, every recipe (augmented too) gives the same bytes on 1 and 2 threads, the
# lines name the optimiser and the rate, patience stops a run that has plateaued, and every bad
# value or combination is one usage line (exit 2) naming the option, with no output written.
# Run from the top of the tree; ends with "optim: N passed, N failed".
CNNF=${CNNF:-./cnnf}
case "$CNNF" in /*) ;; *) CNNF="$(pwd)/$CNNF" ;; esac
D="$(pwd)/tests/data/train"
mkdir -p "$(pwd)/tests/tmp"
T=$(mktemp -d "$(pwd)/tests/tmp/optim.XXXXXX")
. "$(dirname "$0")/lib.sh"

# train OUT ARGS...: trains the squares model into $T/OUT.
train() {
	o=$1
	shift
	run train -m "$D/squares-arch.cnnf" -o "$T/$o" --quiet "$@" "$D/squares.list"
}

# The default recipe is --optimizer sgd --schedule constant, bit for bit.
train def.cnnf --epochs 3 --lr 0.05
expect_status "default recipe" 0
expect_eq "the first line names the default optimiser" "$(printf '%s\n' "$out" | head -n 1)" \
	"optimizer sgd  lr 0.05  momentum 0.9  weight decay 0.0005  schedule constant  warmup 0"
train sgd.cnnf --epochs 3 --lr 0.05 --optimizer sgd --schedule constant --warmup 0 --momentum 0.9 \
	--weight-decay 5e-4
expect_same "explicit sgd, constant = the default" "$T/def.cnnf" "$T/sgd.cnnf"
case "$(printf '%s\n' "$out" | grep '^epoch 3/3')" in *"  lr 0.05  "*) ok ;; *) bad "epoch line without lr: $out" ;; esac

# Adam and AdamW learn the squares; cosine with warmup on 1 and 2 threads gives the same bytes.
for opt in adam adamw; do
	for t in 1 2; do
		train "$opt-t$t.cnnf" --epochs 10 --optimizer "$opt" --lr 0.01 --schedule cosine --warmup 1 \
			--threads $t
		expect_status "$opt, $t threads" 0
	done
	expect_same "$opt: 1 and 2 threads" "$T/$opt-t1.cnnf" "$T/$opt-t2.cnnf"
	case "$(printf '%s\n' "$out" | grep '^epoch 10/10')" in
	*"train 100.00%  val 100.00%"*) ok ;;
	*) bad "$opt did not learn the squares: $out" ;;
	esac
	case "$(printf '%s\n' "$out" | head -n 1)" in
	"optimizer $opt  lr 0.01  betas 0.9 0.999  eps 1e-08  weight decay "*"  schedule cosine  warmup 1") ok ;;
	*) bad "$opt: first line: $(printf '%s\n' "$out" | head -n 1)" ;;
	esac
done
expect_eq "adamw's default weight decay is PyTorch's" \
	"$(printf '%s\n' "$out" | head -n 1 | sed 's/.*weight decay \([^ ]*\) .*/\1/')" 0.01
cmp -s "$T/adam-t1.cnnf" "$T/adamw-t1.cnnf" && bad "adam and adamw gave the same model" || ok
# Without weight decay AdamW is Adam.
train a0.cnnf --epochs 2 --optimizer adam --weight-decay 0
train w0.cnnf --epochs 2 --optimizer adamw --weight-decay 0
expect_same "adam and adamw without decay" "$T/a0.cnnf" "$T/w0.cnnf"
# Adam's default rate is PyTorch's 0.001.
case "$(printf '%s\n' "$out" | head -n 1)" in "optimizer adamw  lr 0.001  "*) ok ;; *) bad "adamw's default lr: $out" ;; esac

# The cosine rate falls to near 0 by the last step; warmup ramps up within the first epoch;
# the step schedule divides by --gamma every --step-size epochs after the warmup.
train c.cnnf --epochs 4 --lr 0.1 --schedule cosine --warmup 1
# The last step of the warmup epoch is at the base rate; then each epoch ends lower, the last
# one at a rate of about (1 + cos(pi (S - 1) / S)) / 2 of it for S steps after the warmup.
rates=$(printf '%s\n' "$out" | sed -n 's/^epoch .*  lr \([^ ]*\)  .*/\1/p' | tr '\n' ' ')
if printf '%s\n' "$rates" | awk '{ ok = NF == 4 && $1 == 0.1 && $4 < 0.001 && $4 > 0
	for (i = 2; i <= NF; i++) if ($i >= $(i - 1)) ok = 0
	exit !ok }'; then ok; else bad "cosine: the rates at the epochs' ends: $rates"; fi
train s.cnnf --epochs 5 --lr 0.1 --schedule step --step-size 2 --gamma 0.5
expect_eq "step: the rates of the epochs" \
	"$(printf '%s\n' "$out" | sed -n 's/^epoch .*  lr \([^ ]*\)  .*/\1/p' | tr '\n' ' ')" \
	"0.1 0.1 0.05 0.05 0.025 "
case "$(printf '%s\n' "$out" | head -n 1)" in *"schedule step (x0.5 every 2 epochs)  warmup 0") ok ;; *) bad "step's first line: $out" ;; esac

# --augment: the same bytes on 1 and 2 threads, other bytes than without it, the first line
# says so; without the options the first line and the model are as before.
for t in 1 2; do
	train "aug-t$t.cnnf" --epochs 3 --lr 0.05 --augment flip,rot90,jitter --threads $t
	expect_status "augment, $t threads" 0
done
expect_same "augment: 1 and 2 threads" "$T/aug-t1.cnnf" "$T/aug-t2.cnnf"
cmp -s "$T/aug-t1.cnnf" "$T/def.cnnf" && bad "--augment changed nothing" || ok
case "$(printf '%s\n' "$out" | head -n 1)" in *"  warmup 0  augment flip,rot90,jitter") ok ;; *) bad "augment's first line: $out" ;; esac
train aug-f.cnnf --epochs 3 --lr 0.05 --augment rot90,flip --threads 2
cmp -s "$T/aug-f.cnnf" "$T/aug-t1.cnnf" && bad "flip,rot90 = flip,rot90,jitter" || ok
case "$(printf '%s\n' "$out" | head -n 1)" in *"  augment flip,rot90") ok ;; *) bad "flip,rot90 first line: $out" ;; esac

# --class-weights: auto and explicit weights train and change the model; 1 and 2 threads agree.
for t in 1 2; do
	train "cw-t$t.cnnf" --epochs 3 --lr 0.05 --class-weights auto --threads $t
	expect_status "class weights auto, $t threads" 0
done
expect_same "class weights: 1 and 2 threads" "$T/cw-t1.cnnf" "$T/cw-t2.cnnf"
cmp -s "$T/cw-t1.cnnf" "$T/def.cnnf" && bad "--class-weights auto changed nothing" || ok
case "$(printf '%s\n' "$out" | head -n 1)" in *"  class weights auto") ok ;; *) bad "class weights' first line: $out" ;; esac
train cw-w.cnnf --epochs 3 --lr 0.05 --class-weights 1,4
expect_status "class weights 1,4" 0
cmp -s "$T/cw-w.cnnf" "$T/def.cnnf" && bad "--class-weights 1,4 changed nothing" || ok

# --patience: the squares reach 100% on validation within a few epochs and stay there, so a run
# of 30 epochs stops 2 after the best one and says so on its last line.
train pat.cnnf --epochs 30 --lr 0.05 --patience 2
expect_status "patience" 0
last=$(printf '%s\n' "$out" | tail -n 1)
best=$(printf '%s\n' "$last" | sed -n 's/^best epoch \([0-9]*\) of 30 .*/\1/p')
stop=$(printf '%s\n' "$last" | sed -n 's/.*: stopped early after epoch \([0-9]*\) (--patience 2): wrote .*/\1/p')
if [ -n "$best" ] && [ -n "$stop" ] && [ "$stop" -eq $((best + 2)) ] && [ "$stop" -lt 30 ]; then ok
else bad "patience: last line: $last"; fi
expect_eq "patience: epoch lines up to the stop" "$(printf '%s\n' "$out" | grep -c '^epoch ')" "$stop"
[ -s "$T/pat.cnnf" ] && ok || bad "patience: no model written"
# Without it the same run goes on to its last epoch.
train nopat.cnnf --epochs 6 --lr 0.05
case "$(printf '%s\n' "$out" | tail -n 1)" in *stopped*) bad "stopped without --patience: $out" ;; "best epoch "*" of 6 "*) ok ;; *) bad "no summary: $out" ;; esac

# Bad values and combinations: exit 2, one line naming the option, nothing written.
bad_case() {
	name=$1 pattern=$2
	shift 2
	rm -f "$T/x.cnnf"
	run train -m "$D/squares-arch.cnnf" -o "$T/x.cnnf" "$@" "$D/squares.list"
	expect_error "$name" 2 "$pattern"
	expect_absent "$name: no output" "$T/x.cnnf"
}
bad_case "unknown optimiser" "--optimizer: 'rmsprop' is not sgd, adam or adamw" --optimizer rmsprop
bad_case "unknown schedule" "--schedule: 'linear' is not constant, step or cosine" --schedule linear
bad_case "beta1 of 1" "--beta1" --optimizer adam --beta1 1
bad_case "beta2 not a number" "--beta2" --optimizer adam --beta2 x
bad_case "eps of 0" "--eps" --optimizer adam --eps 0
bad_case "negative warmup" "--warmup" --warmup -1
bad_case "warmup of every epoch" "--warmup: 10 epochs is not below --epochs 10" --warmup 10
bad_case "warmup beyond the epochs" "--warmup: 4 epochs is not below --epochs 3" --epochs 3 --warmup 4
bad_case "step size 0" "--step-size" --schedule step --step-size 0
bad_case "gamma 0" "--gamma" --schedule step --gamma 0
bad_case "negative weight decay" "--weight-decay" --optimizer adamw --weight-decay -1
bad_case "momentum with adam" "--momentum applies to --optimizer sgd, not adam" --optimizer adam --momentum 0.5
bad_case "beta1 with sgd" "--beta1 applies to --optimizer adam or adamw, not sgd" --beta1 0.5
bad_case "eps with sgd" "--eps applies to --optimizer adam or adamw" --eps 1e-6
bad_case "step size without step" "--step-size applies to --schedule step, not cosine" --schedule cosine --step-size 2
bad_case "gamma without step" "--gamma applies to --schedule step, not constant" --gamma 0.5

bad_case "unknown augmentation" "--augment: 'blur' is not a comma list of flip, rot90 and jitter" --augment blur
bad_case "empty augmentation" "--augment: '' is not a comma list" --augment ''
bad_case "trailing comma" "--augment: 'flip,' is not" --augment flip,
bad_case "class weights word" "--class-weights: 'inverse' is not auto or a list of positive numbers" --class-weights inverse
bad_case "class weight 0" "--class-weights: '1,0' is not auto" --class-weights 1,0
bad_case "negative class weight" "--class-weights: '-1,1'" --class-weights -1,1
bad_case "too few class weights" "--class-weights: 1 weight for a model of 2 classes: give one a class" --class-weights 2
bad_case "too many class weights" "--class-weights: 3 weights for a model of 2 classes" --class-weights 1,2,3
bad_case "patience 0" "--patience" --patience 0
bad_case "patience not a number" "--patience" --patience x

rm -rf "$T"
echo "optim: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
