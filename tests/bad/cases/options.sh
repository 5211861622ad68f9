# tests/bad/cases/options.sh: options given wrong, and messages that carry what the user or a
# file typed (sourced by tests/bad/run.sh, which has expect, usage, $P, $I and $T). Each is
# one line on stderr starting "cnnf: ", exit 2 for a usage error, 1 for bad input.
NL='
'
ESC=$(printf '\033')

# ---- The argument at fault is the one named ----
# getopt stops inside the cluster "-x.png" ('x' is unknown): the message names "-x.png", not
# the argument before it.
usage "option: -x.png first" "unknown option '-x' in '-x.png'" box -x.png "$P" OUT
usage "option: -x.png after an operand" "'-x.png'" box "$P" -x.png OUT
usage "option: -x.png after an option" "'-x.png'" box --size 3 -x.png "$P" OUT
usage "option: -x alone" "unknown option '-x';" box "$P" OUT -x
usage "option: unknown after a known short option" "'-x' in '-hx'" box -hx "$P" OUT
usage "option: unknown long option" "unknown option '--frob'" box --frob "$P" OUT
usage "option: unknown long option with a value" "unknown option '--frob';" box --frob=3 "$P" OUT
usage "option: ambiguous prefix" "ambiguous option '--s'" box --s 3 "$P" OUT
usage "option: a command is not an option" "a command must come first, not '-x'" -x box "$P" OUT

# ---- Values given to options that take none, or missing ----
usage "option: --help=1" "cnnf: box: option '--help' takes no value" box --help=1 "$P" OUT
usage "option: --quiet=1" "cnnf: segment: option '--quiet' takes no value" \
	segment --model "$I/ok.cnnf" --quiet=1 "$P" OUT
usage "option: --quiet=1 to a command without --quiet" "option '--quiet' takes no value" \
	box --quiet=1 "$P" OUT
usage "option: --abs=yes" "cnnf: conv: option '--abs' takes no value" \
	conv --kernel-string 1 --abs=yes "$P" OUT
usage "option: --normalize=" "option '--normalize' takes no value" \
	conv --kernel-string 1 --normalize= "$P" OUT
usage "option: --flip=0" "option '--flip' takes no value" conv --kernel-string 1 --flip=0 "$P" OUT
usage "option: --version=2" "option '--version' takes no value" box --version=2 "$P" OUT
usage "option: abbreviated --qui=1" "option '--quiet' takes no value" \
	segment --model "$I/ok.cnnf" --qui=1 "$P" OUT
usage "option: --size without its value" "option '--size' needs a value" box "$P" OUT --size
usage "option: -s without its value" "option '-s' needs a value" box "$P" OUT -s
usage "option: -s last in a cluster" "option '-s' needs a value" box "$P" OUT -hs

# ---- Numbers: a finite range for the levels ----
usage "option: --amount 1e308" "--amount: '1e308' is not a number from -1000000 to 1000000" \
	lighten --amount 1e308 "$P" OUT
usage "option: --amount -1e308" "--amount" darken --amount -1e308 "$P" OUT
usage "option: --amount 1000001" "--amount" lighten --amount 1000001 "$P" OUT
usage "option: sharpen --amount 1e300" "--amount" sharpen --amount 1e300 "$P" OUT
usage "option: unsharp --amount 1e300" "--amount" unsharp --amount 1e300 "$P" OUT
usage "option: gaussian without --sigma" "gaussian: --sigma S is required" gaussian "$P" OUT
usage "option: --sigma 0" "--sigma: '0' is not a number above 0 and up to 500" gaussian --sigma 0 "$P" OUT
usage "option: --sigma -1" "--sigma" unsharp --sigma -1 "$P" OUT
usage "option: --sigma 1e9" "--sigma" gaussian --sigma 1e9 "$P" OUT
usage "option: --sigma nan" "--sigma: 'nan' is not a finite number" gaussian --sigma nan "$P" OUT
usage "option: --sigma to box" "option --sigma does not apply" box --sigma 1 "$P" OUT
usage "option: --flatten=pink" "--flatten: 'pink' is not a colour" identity --flatten=pink "$P" OUT
usage "option: --flatten=#ggg000" "--flatten: '#ggg000'" identity --flatten=#ggg000 "$P" OUT
usage "option: --flatten=" "--flatten: '' is not a colour" identity --flatten= "$P" OUT
usage "option: --flatten to segment" "option --flatten does not apply" \
	segment --model "$I/ok.cnnf" --flatten "$P" OUT
usage "option: --factor 1e308" "--factor: '1e308' is not a number from" contrast --factor 1e308 "$P" OUT
usage "option: --factor -2e6" "--factor" contrast --factor -2e6 "$P" OUT
usage "option: --offset 1e308" "--offset: '1e308' is not a number from" \
	conv --kernel-string 1 --offset 1e308 "$P" OUT
usage "option: --amount 1e400 (overflows)" "--amount: '1e400' is not a finite number" \
	lighten --amount 1e400 "$P" OUT
usage "option: --amount inf" "--amount" lighten --amount inf "$P" OUT
# 1e-400 is below the subnormals: strtod gives 0, which the range refuses as not positive.
usage "option: --gamma 1e-400" "--gamma: '1e-400' is not a positive number" gamma --gamma 1e-400 "$P" OUT
usage "option: --lr 1e-400" "--lr: '1e-400' is not a positive number" \
	train -m "$I/ok.cnnf" -o OUT --lr 1e-400 "$I/missing.list"

# ---- Blanks around numbers: refused before and after, integers and reals alike ----
for v in ' 3' '3 ' "$(printf '\t3')" "$(printf '3\t')" "3$NL" ' 3 '; do
	shown=$(printf '%s' "$v" | sed "s/$(printf '\t')/\\\\t/g" | tr '\n' '~' | sed 's/~/\\n/g')
	usage "option: --size '$shown'" "--size: '$shown' is not an integer" box --size "$v" "$P" OUT
	usage "option: --factor '$shown'" "--factor: '$shown' is not a finite number" \
		contrast --factor "$v" "$P" OUT
done
usage "option: --pad ' 2'" "--pad: ' 2' is not" box --pad ' 2' "$P" OUT
usage "option: --threads '1 '" "--threads: '1 ' is not" box --threads '1 ' "$P" OUT
usage "option: --max-pixels ' 100'" "--max-pixels" box --max-pixels ' 100' "$P" OUT
usage "option: --gamma '2 '" "--gamma: '2 ' is not" gamma --gamma '2 ' "$P" OUT
usage "option: --momentum ' 0.5'" "--momentum" train -m "$I/ok.cnnf" -o OUT --momentum ' 0.5' "$I/x.list"
usage "option: --dx ''" "--dx: '' is not an integer" shift --dx '' "$P" OUT
usage "option: --amount ''" "--amount: '' is not a finite number" lighten --amount '' "$P" OUT

# ---- What the user typed, echoed escaped: one line, no terminal escapes ----
usage "message: --border with an escape" "--border: 'a\\033[2Jb' is not" \
	box --border "a${ESC}[2Jb" "$P" OUT
usage "message: --format with a newline" "--format: 'png\\nx' is not" box --format "png${NL}x" "$P" OUT
usage "message: --size with a byte that is not UTF-8" "--size: '3\\377' is not" \
	box --size "3$(printf '\377')" "$P" OUT
usage "message: unknown command with a newline" "unknown command 'x\\ny'" "x${NL}y" "$P" OUT
usage "message: unknown option with an escape" "unknown option '--a\\033]0;t'" \
	box "--a${ESC}]0;t" "$P" OUT
usage "message: unknown short option, a control byte" "unknown option '-\\001'" \
	box "-$(printf '\001')" "$P" OUT
usage "message: kernel string with a C1 control" "--kernel-string:1:3: '\\302\\2332J'" \
	conv --kernel-string "1 $(printf '\302\233')2J" "$P" OUT

# ---- Names of files and bytes from files, escaped ----
expect "message: input named with a newline" 1 "in\\nput.png" png identity "$I/in${NL}put.png" OUT
expect "message: input named with an escape" 1 "in\\033[31mput.png" png \
	identity "$I/in${ESC}[31mput.png" OUT
printf 'not an image' >"$I/junk${NL}name.png"
expect "message: bad input named with a newline" 1 "junk\\nname.png: " png \
	identity "$I/junk${NL}name.png" OUT
printf '1 2 \377\376\033[2J 3\n' >"$I/binary.txt"
expect "message: kernel file with raw bytes" 1 "binary.txt:1:5: '\\377\\376" png \
	conv -k "$I/binary.txt" "$P" OUT
printf 'a file, not a folder' >"$I/no${ESC}[2Jdir"
expect "message: output directory named with an escape" 1 "no\\033[2Jdir" png \
	segment --model "$I/ok.cnnf" --outdir "$I/no${ESC}[2Jdir" "$P"
