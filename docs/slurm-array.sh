#!/bin/sh
# docs/slurm-array.sh: cnnf over a long list on a Slurm cluster, one array task a slice.
#   ls /data/scans/*.tif > list.txt
#   sbatch --array=0-99 docs/slurm-array.sh list.txt /data/labels -m unet.onnx
# Task N takes lines N, N+100, N+200, ... of the list (every array task its own lines, so
# no two write one file) and runs segment on them with the model loaded once; a
# resubmitted array skips the outputs that exist (--skip-existing).
#SBATCH --job-name=cnnf
#SBATCH --cpus-per-task=2
#SBATCH --time=01:00:00
#SBATCH --output=cnnf-%A_%a.log
set -eu
list=$1 out=$2
shift 2
tasks=${SLURM_ARRAY_TASK_COUNT:?run it with sbatch --array}
task=${SLURM_ARRAY_TASK_ID:?run it with sbatch --array}
awk -v n="$tasks" -v t="$task" '(NR - 1) % n == t' "$list" |
	cnnf segment --threads "${SLURM_CPUS_PER_TASK:-2}" --skip-existing --outdir "$out" \
		"$@" --files-from -
