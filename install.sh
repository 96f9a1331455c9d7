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

# Plain http only for a mirror on this machine that the user named; everything else is https.
check_base_url() {
	case "$base_url" in
	https://*) ;;
	http://127.0.0.1[:/]* | http://127.0.0.1 | http://localhost[:/]* | http://localhost | http://\[::1\]*) ;;
	*) die "refusing to download from $base_url: use an https:// URL (plain http only for localhost)" ;;
	esac
}

download() {
	url=$1
	out=$2
	case "$downloader" in
	curl) curl --proto '=https,http' --fail --silent --show-error --location --retry 3 --output "$out" "$url" ;;
	wget) wget --quiet --tries=3 --output-document="$out" "$url" ;;
	esac || die "download failed: $url"
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
	tar -xzf "$archive" -C "$tmp" runtime-upload || die "$(basename "$archive") does not hold a runtime-upload binary"
	mkdir -p "$install_dir" || die "cannot create $install_dir (choose another with --install-dir)"
	# Copy then rename: a running copy of the old binary is never half-overwritten.
	cp "$tmp/runtime-upload" "$install_dir/.runtime-upload.new" || die "cannot write to $install_dir"
	chmod 755 "$install_dir/.runtime-upload.new"
	mv -f "$install_dir/.runtime-upload.new" "$install_dir/runtime-upload"
	say "installed $install_dir/runtime-upload ($("$install_dir/runtime-upload" --version 2>/dev/null || echo 'version unknown'))"
}

path_hint() {
	case ":$PATH:" in
	*":$install_dir:"*) return 0 ;;
	esac
	if [ "$edit_profile" = 1 ]; then
		# shellcheck disable=SC2016 # $PATH is meant literally: ~/.profile expands it
		printf '\nexport PATH="%s:$PATH"\n' "$install_dir" >>"$HOME/.profile"
		say "added $install_dir to PATH in ~/.profile (open a new shell)"
	else
		say "$install_dir is not on your PATH; add it with:"
		say "  export PATH=\"$install_dir:\$PATH\""
	fi
}

cleanup() {
	[ -n "${tmp:-}" ] && rm -rf "$tmp"
}

main() {
	version=latest
	install_dir=${RUNTIME_UPLOAD_INSTALL_DIR:-${HOME:-}/.local/bin}
	base_url=${RUNTIME_UPLOAD_BASE_URL:-$DEFAULT_BASE_URL}
	from_file=
	edit_profile=0
	while [ $# -gt 0 ]; do
		case "$1" in
		--version) [ $# -ge 2 ] || die "--version needs a value"; version=$2; shift 2 ;;
		--install-dir) [ $# -ge 2 ] || die "--install-dir needs a value"; install_dir=$2; shift 2 ;;
		--from-file) [ $# -ge 2 ] || die "--from-file needs a value"; from_file=$2; shift 2 ;;
		--base-url) [ $# -ge 2 ] || die "--base-url needs a value"; base_url=${2%/}; shift 2 ;;
		--edit-profile) edit_profile=1; shift ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; die "unknown option: $1" ;;
		esac
	done
	[ -n "$install_dir" ] || die "no install dir: set HOME, RUNTIME_UPLOAD_INSTALL_DIR or --install-dir"
	need tar "to unpack the archive"
	need awk "to read SHA256SUMS"

	tmp=$(mktemp -d 2>/dev/null || mktemp -d -t runtime-upload)
	trap cleanup EXIT INT TERM

	if [ -n "$from_file" ]; then
		[ -f "$from_file" ] || die "--from-file $from_file does not exist"
		sums="$(dirname "$from_file")/SHA256SUMS"
		[ -f "$sums" ] || die "no SHA256SUMS beside $from_file: copy it from the same release"
		detect_platform
		case "$(basename "$from_file")" in
		"runtime-upload-$platform.tar.gz") ;;
		*) die "$(basename "$from_file") is not the archive for this machine: it needs runtime-upload-$platform.tar.gz" ;;
		esac
		verify "$from_file" "$sums"
		install_binary "$from_file"
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
