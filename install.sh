#!/bin/sh
# runtime-upload installer: downloads the release archive for this machine, verifies it
# against SHA256SUMS, and installs the binary without sudo.
#
#   curl -fsSL https://github.com/runtime-upload/runtime-upload/releases/latest/download/install.sh | sh
#   sh install.sh --version v0.1.0 --install-dir /opt/bin
#   sh install.sh --from-file runtime-upload-linux-x64.tar.gz   (air-gapped: SHA256SUMS beside it)
#
# Every step is a function and the last line calls main: a truncated download runs nothing.
set -eu

DEFAULT_BASE_URL="https://github.com/runtime-upload/runtime-upload/releases"

say() {
	printf 'runtime-upload installer: %s\n' "$*" >&2
}

die() {
	say "error: $*"
	exit 1
}

usage() {
	cat <<'EOF'
Usage: install.sh [options]

  --version X        release to install, e.g. v0.1.0 (default: latest)
  --install-dir D    where to put the binary (default: $RUNTIME_UPLOAD_INSTALL_DIR or ~/.local/bin)
  --from-file FILE   install from a downloaded runtime-upload-<platform>.tar.gz,
                     checked against the SHA256SUMS file beside it (no network)
  --base-url URL     download from a mirror (default: $RUNTIME_UPLOAD_BASE_URL or GitHub releases)
  --url URL          download this archive, checked against --sha256 instead of SHA256SUMS
  --sha256 SUM       the sha256 the archive must have (with --url or --from-file)
  --keep-archive F   with --url: also keep the verified archive as F (a cache to reinstall from)
  --edit-profile     append the install dir to PATH in ~/.profile (default: only print a hint)
  -h, --help         this help
EOF
}

detect_platform() {
	os=$(uname -s)
	arch=$(uname -m)
	case "$os" in
	Linux) os=linux ;;
	Darwin) os=darwin ;;
	MINGW* | MSYS* | CYGWIN*) die "on Windows, download runtime-upload-windows-x64.tar.gz from the release page and put runtime-upload.exe on PATH" ;;
	*) die "unsupported platform: $os $arch (supported: Linux and macOS on x86_64 or arm64)" ;;
	esac
	case "$arch" in
	x86_64 | amd64) arch=x64 ;;
	aarch64 | arm64) arch=arm64 ;;
	*) die "unsupported platform: $os $arch (supported: x86_64 and arm64)" ;;
	esac
	# An x64 shell under Rosetta 2 on Apple silicon: the native binary is the right one.
	if [ "$os" = darwin ] && [ "$arch" = x64 ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || true)" = 1 ]; then
		arch=arm64
	fi
	platform="$os-$arch"
	if [ "$os" = linux ] && is_musl; then
		platform="$platform-musl"
	fi
}

is_musl() {
	for f in /lib/ld-musl-*.so.1; do
		[ -e "$f" ] && return 0
	done
	ldd --version 2>&1 | grep -qi musl
}

need() {
	command -v "$1" >/dev/null 2>&1 || die "$1 is required: $2"
}

pick_downloader() {
	if command -v curl >/dev/null 2>&1; then
		downloader=curl
	elif command -v wget >/dev/null 2>&1; then
		downloader=wget
	else
		die "curl or wget is required to download (or use --from-file with an archive you carried in)"
	fi
}

# Plain http only for a mirror on this machine that the user named, parsed strictly
# (http://localhost:80@elsewhere/ names elsewhere); everything else, redirects included, is https.
check_base_url() {
	allow_http=0
	case "$base_url" in
	https://*) return 0 ;;
	http://*) ;;
	*) refuse_base_url ;;
	esac
	authority=${base_url#http://}
	authority=${authority%%/*}
	rest=$authority
	for host in localhost 127.0.0.1 '[::1]'; do
		case "$authority" in "$host" | "$host":*) rest=${authority#"$host"} ;; esac
	done
	[ "$rest" != "$authority" ] || refuse_base_url
	case "$rest" in
	"") ;;
	: | :*[!0-9]*) refuse_base_url ;;
	:*) ;;
	*) refuse_base_url ;;
	esac
	allow_http=1
}

refuse_base_url() {
	die "refusing to download from $base_url: use an https:// URL (plain http only for a mirror on localhost)"
}

# Downloads run in the background so that a trapped Ctrl-C is acted on at once, not after them.
run_child() {
	"$@" &
	child=$!
	wait "$child"
	status=$?
	child=
	return "$status"
}

download() {
	url=$1
	out=$2
	case "$downloader" in
	curl)
		proto='=https'
		[ "$allow_http" = 1 ] && proto='=http,https'
		run_child curl --proto "$proto" --proto-redir '=https' --fail --silent --show-error --location \
			--connect-timeout 20 --max-time 900 --retry 3 --output "$out" "$url"
		;;
	wget) wget_https "$url" "$out" ;;
	esac || die "download failed: $(printf '%s' "$url" | sed 's/[?#].*//')"
}

# wget has no switch that keeps redirects on https, so redirects are followed here, each one checked.
wget_https() {
	url=$1
	hops=0
	while :; do
		headers=$(run_child wget --quiet --server-response --max-redirect=0 --timeout=20 --tries=3 \
			--output-document="$2" "$url" 2>&1) && return 0
		location=$(printf '%s\n' "$headers" | sed -n 's/^ *[Ll]ocation: *//p' | tail -n 1 | tr -d '\r')
		[ -n "$location" ] || return 1
		case "$location" in
		https://*) url=$location ;;
		/*) url="$(printf '%s' "$url" | sed 's|^\([a-z]*://[^/]*\).*|\1|')$location" ;;
		*) die "refusing to follow a redirect to $location: only https is allowed" ;;
		esac
		case "$url" in http://*) [ "$allow_http" = 1 ] || die "refusing to follow a redirect to $url: only https is allowed" ;; esac
		hops=$((hops + 1))
		[ "$hops" -le 5 ] || die "too many redirects from $1"
	done
}

sha256_of() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | cut -d' ' -f1
	elif command -v shasum >/dev/null 2>&1; then
		shasum -a 256 "$1" | cut -d' ' -f1
	else
		die "sha256sum or shasum is required to verify the download"
	fi
}

verify_sum() {
	actual=$(sha256_of "$1")
	[ "$2" = "$actual" ] || die "checksum mismatch for $(basename "$1") (expected $2, got $actual): refusing to install"
	say "verified $(basename "$1") (sha256 $actual)"
}

verify() {
	file=$1
	sums=$2
	name=$(basename "$file")
	expected=$(awk -v n="$name" '$2 == n || $2 == "*" n { print $1 }' "$sums")
	[ -n "$expected" ] || die "$name is not listed in SHA256SUMS"
	actual=$(sha256_of "$file")
	[ "$expected" = "$actual" ] || die "checksum mismatch for $name (expected $expected, got $actual): refusing to install"
	say "verified $name (sha256 $actual)"
}

release_url() {
	if [ "$version" = latest ]; then
		printf '%s/latest/download/%s' "$base_url" "$1"
	else
		printf '%s/download/%s/%s' "$base_url" "$version" "$1"
	fi
}

install_binary() {
	archive=$1
	mkdir "$tmp/unpacked"
	tar -xzf "$archive" -C "$tmp/unpacked" runtime-upload || die "$(basename "$archive") does not hold a runtime-upload binary"
	binary="$tmp/unpacked/runtime-upload"
	# A link would install whatever it points at, not what was verified.
	if [ -h "$binary" ] || [ ! -f "$binary" ]; then
		die "the runtime-upload in $(basename "$archive") is not a regular file: refusing to install"
	fi
	chmod 755 "$binary"
	"$binary" --version >/dev/null 2>&1 || die "the runtime-upload in $(basename "$archive") does not run on this machine: refusing to install"
	mkdir -p "$install_dir" || die "cannot create $install_dir (choose another with --install-dir)"
	# Copy then rename: a running copy of the old binary is never half-overwritten.
	cp "$binary" "$install_dir/.runtime-upload.new" || die "cannot write to $install_dir"
	chmod 755 "$install_dir/.runtime-upload.new"
	mv -f "$install_dir/.runtime-upload.new" "$install_dir/runtime-upload"
	say "installed $install_dir/runtime-upload ($("$install_dir/runtime-upload" --version 2>/dev/null || echo 'version unknown'))"
}

path_hint() {
	case ":$PATH:" in
	*":$install_dir:"*) return 0 ;;
	esac
	if [ "$edit_profile" = 1 ]; then
		# Single-quoted, so a $(…) or a quote in the folder's name is never run at login.
		quoted=$(printf '%s' "$install_dir" | sed "s/'/'\\\\''/g")
		# shellcheck disable=SC2016 # $PATH is meant literally: ~/.profile expands it
		printf '\nexport PATH='"'"'%s'"'"':"$PATH"\n' "$quoted" >>"$HOME/.profile"
		say "added $install_dir to PATH in ~/.profile (open a new shell)"
	else
		say "$install_dir is not on your PATH; add it with:"
		say "  export PATH=\"$install_dir:\$PATH\""
	fi
}

cleanup() {
	if [ -n "${tmp:-}" ]; then rm -rf "$tmp"; fi
}

on_signal() {
	if [ -n "${child:-}" ]; then kill "$child" 2>/dev/null || true; fi
	cleanup
	exit "$1"
}

main() {
	version=latest
	install_dir=${RUNTIME_UPLOAD_INSTALL_DIR:-}
	if [ -z "$install_dir" ] && [ -n "${HOME:-}" ]; then install_dir=$HOME/.local/bin; fi
	base_url=${RUNTIME_UPLOAD_BASE_URL:-$DEFAULT_BASE_URL}
	from_file=
	url=
	sha256=
	keep_archive=
	edit_profile=0
	while [ $# -gt 0 ]; do
		case "$1" in
		--version) [ $# -ge 2 ] || die "--version needs a value"; version=$2; shift 2 ;;
		--install-dir) [ $# -ge 2 ] || die "--install-dir needs a value"; install_dir=$2; shift 2 ;;
		--from-file) [ $# -ge 2 ] || die "--from-file needs a value"; from_file=$2; shift 2 ;;
		--base-url) [ $# -ge 2 ] || die "--base-url needs a value"; base_url=${2%/}; shift 2 ;;
		--url) [ $# -ge 2 ] || die "--url needs a value"; url=$2; shift 2 ;;
		--sha256) [ $# -ge 2 ] || die "--sha256 needs a value"; sha256=$2; shift 2 ;;
		--keep-archive) [ $# -ge 2 ] || die "--keep-archive needs a value"; keep_archive=$2; shift 2 ;;
		--edit-profile) edit_profile=1; shift ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; die "unknown option: $1" ;;
		esac
	done
	[ -n "$install_dir" ] || die "no install dir: HOME is not set; pass --install-dir DIR or set RUNTIME_UPLOAD_INSTALL_DIR"
	need tar "to unpack the archive"
	need awk "to read SHA256SUMS"

	tmp=$(mktemp -d 2>/dev/null || mktemp -d -t runtime-upload)
	child=
	trap cleanup EXIT
	trap 'on_signal 130' INT
	trap 'on_signal 143' TERM
	trap 'on_signal 129' HUP

	[ -z "$keep_archive" ] || [ -n "$url" ] || die "--keep-archive goes with --url"
	if [ -n "$url" ]; then
		[ -n "$sha256" ] || die "--url needs --sha256: the archive is checked against the sum you pass"
		base_url=$url
		check_base_url
		pick_downloader
		name=$(basename "${url%%[?#]*}")
		say "downloading $name"
		download "$url" "$tmp/$name"
		verify_sum "$tmp/$name" "$sha256"
		install_binary "$tmp/$name"
		if [ -n "$keep_archive" ]; then
			# Only what was verified is kept, and only whole: a copy beside it, then a rename.
			cp "$tmp/$name" "$keep_archive.partial.$$" || die "cannot keep the archive as $keep_archive"
			mv -f "$keep_archive.partial.$$" "$keep_archive" || die "cannot keep the archive as $keep_archive"
		fi
	elif [ -n "$from_file" ]; then
		[ -f "$from_file" ] || die "--from-file $from_file does not exist"
		sums="$(dirname "$from_file")/SHA256SUMS"
		[ -n "$sha256" ] || [ -f "$sums" ] || die "no SHA256SUMS beside $from_file: copy it from the same release (or pass --sha256)"
		detect_platform
		name=$(basename "$from_file")
		case "$name" in
		"runtime-upload-$platform.tar.gz") ;;
		*) die "$name is not the archive for this machine: it needs runtime-upload-$platform.tar.gz" ;;
		esac
		# One private copy is verified and unpacked: the original may change in between.
		cp "$from_file" "$tmp/$name" || die "cannot read $from_file"
		if [ -n "$sha256" ]; then
			verify_sum "$tmp/$name" "$sha256"
		else
			cp "$sums" "$tmp/SHA256SUMS" || die "cannot read $sums"
			verify "$tmp/$name" "$tmp/SHA256SUMS"
		fi
		install_binary "$tmp/$name"
	else
		detect_platform
		check_base_url
		pick_downloader
		name="runtime-upload-$platform.tar.gz"
		say "downloading $name ($version) for $platform"
		download "$(release_url SHA256SUMS)" "$tmp/SHA256SUMS"
		download "$(release_url "$name")" "$tmp/$name"
		verify "$tmp/$name" "$tmp/SHA256SUMS"
		install_binary "$tmp/$name"
	fi
	path_hint
}

main "$@"
