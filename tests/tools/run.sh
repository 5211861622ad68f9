#!/bin/sh
# tests/tools/run.sh: tests of the Python tools in tools/ (run from the top of the tree).
# They need Debian's /usr/bin/python3 with python3-torch; without it they are skipped.
# Ends with "torch2cnnf: N passed, N failed" or "torch2cnnf: skipped (...)"; exits 1 on a failure.
py=/usr/bin/python3
if [ ! -x "$py" ]; then
	echo "torch2cnnf: skipped (no $py)"
	exit 0
fi
exec "$py" "$(dirname "$0")/test_torch2cnnf.py"
