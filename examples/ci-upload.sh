#!/bin/sh
# For Jenkins, Buildkite or any runner with a shell: install runtime-upload (verified) and
# upload one image. RUNTIME_API_URL and RUNTIME_API_KEY come from the CI's secret store.
#
#   sh examples/ci-upload.sh IMAGE [TAG...]
#   RUNTIME_UPLOAD_ARCHIVE=/mnt/carried/runtime-upload-linux-x64.tar.gz IMAGE_ARCHIVE=/mnt/carried/image.tar \
#     sh examples/ci-upload.sh IMAGE          # air-gapped: the binary and the image carried in
set -eu
: "${RUNTIME_API_URL:?set RUNTIME_API_URL}" "${RUNTIME_API_KEY:?set RUNTIME_API_KEY}"
[ $# -ge 1 ] || { echo "usage: $0 IMAGE [TAG...]" >&2; exit 2; }

bin_dir=${WORKSPACE:-${BUILDKITE_BUILD_CHECKOUT_PATH:-$PWD}}/.runtime-upload/bin
if [ -n "${RUNTIME_UPLOAD_ARCHIVE:-}" ]; then
	# SHA256SUMS from the same release must sit beside the archive.
	sh "$(dirname "$0")/../install.sh" --from-file "$RUNTIME_UPLOAD_ARCHIVE" --install-dir "$bin_dir"
else
	curl -fsSL --proto '=https' --proto-redir '=https' https://github.com/runtime-upload/runtime-upload/releases/latest/download/install.sh |
		sh -s -- --install-dir "$bin_dir"
fi

if [ -n "${IMAGE_ARCHIVE:-}" ]; then
	"$bin_dir/runtime-upload" --input "$IMAGE_ARCHIVE" "$@" --json >runtime-upload-result.json
else
	"$bin_dir/runtime-upload" "$@" --json >runtime-upload-result.json
fi
echo "result: runtime-upload-result.json" >&2
