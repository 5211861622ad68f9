#!/bin/sh
# setup.sh: the README's first command. Installs what cnnf needs to build (Debian/Ubuntu,
# with apt-get), builds it, and runs it on a bundled sample photo.
set -e
cd "$(dirname "$0")"

need="build-essential autoconf automake pkg-config libpng-dev zlib1g-dev libjpeg-dev libtiff-dev check"
missing=""
for p in $need; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "setup: installing$missing"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi
./configure -q
make -s -j2

mkdir -p out
./cnnf blur --size 9 samples/astronaut.png out/astronaut-blur.png
echo "setup: built ./cnnf; blurred samples/astronaut.png into $(pwd)/out/astronaut-blur.png"
