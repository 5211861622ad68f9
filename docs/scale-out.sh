#!/bin/sh
# docs/scale-out.sh: the scale-out recipes of docs/scale-out.md, as one script, so that
# they are run (tests/cli/batch.sh runs the local ones). Usage:
#   sh docs/scale-out.sh parallel CMD INDIR OUTDIR [CNNF-OPTION]...   # GNU parallel, local -j
#   sh docs/scale-out.sh xargs    CMD INDIR OUTDIR [CNNF-OPTION]...   # xargs -P
# CMD is a cnnf command (box, segment, ...). Each job is one `cnnf CMD --outdir OUTDIR`
# over a slice of the inputs, so cnnf's own checks (names that collide, outputs onto
# inputs) hold within the slice and its --skip-existing makes a rerun resume.
set -eu
how=$1 cmd=$2 in=$3 out=$4
shift 4
CNNF=${CNNF:-cnnf}
jobs=${JOBS:-$(nproc)}
case "$how" in
parallel)
	# -X packs as many names into each job as fit; --halt soon,fail=1 starts no new job
	# after a failing one (drop it to go on past bad images, as one cnnf does) and keeps
	# its status; -j one job a core, each cnnf with one thread.
	find "$in" -maxdepth 1 -type f \( -name '*.png' -o -name '*.jpg' -o -name '*.tif' \) -print |
		sort | parallel -X -j "$jobs" --halt soon,fail=1 \
		"$CNNF" "$cmd" --threads 1 --skip-existing --outdir "$out" "$@" {}
	;;
xargs)
	find "$in" -maxdepth 1 -type f \( -name '*.png' -o -name '*.jpg' -o -name '*.tif' \) -print0 |
		sort -z | xargs -0 -r -n 16 -P "$jobs" \
		"$CNNF" "$cmd" --threads 1 --skip-existing --outdir "$out" "$@"
	;;
*)
	echo "usage: $0 parallel|xargs CMD INDIR OUTDIR [OPTION]..." >&2
	exit 2
	;;
esac
