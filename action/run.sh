#!/usr/bin/env bash
# The GitHub Action's logic (action.yml runs it; the tests run it with a simulated runner):
# install the pinned runtime-upload release, verified and cached in the tool cache; run
# the upload with --json; hand the result to the workflow as outputs, an annotation on
# failure, and a job summary. Inputs arrive as RU_* environment variables only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# Workflow commands take %, CR and LF escaped; properties also : and ,.
escape() {
	local s=$1
	s=${s//'%'/'%25'}
	s=${s//$'\r'/'%0D'}
	s=${s//$'\n'/'%0A'}
	printf '%s' "$s"
}

fail() {
	printf '::error title=runtime-upload::%s\n' "$(escape "$1")"
	exit 1
}

# Masked before anything else runs: whatever prints it later shows ***.
if [ -n "${RU_API_KEY:-}" ]; then echo "::add-mask::${RU_API_KEY}"; fi
[ -n "${RU_IMAGE:-}" ] || fail "the image input is required"
command -v jq >/dev/null 2>&1 || fail "jq is required to read the result (it is on GitHub's runners; install it on a self-hosted one)"

platform() {
	local os arch
	case "${RUNNER_OS:-}" in
	Linux) os=linux ;;
	macOS) os=darwin ;;
	*) fail "runner OS ${RUNNER_OS:-unknown} is not supported: use Linux or macOS runners" ;;
	esac
	case "${RUNNER_ARCH:-}" in
	X64) arch=x64 ;;
	ARM64) arch=arm64 ;;
	*) fail "runner architecture ${RUNNER_ARCH:-unknown} is not supported: use X64 or ARM64" ;;
	esac
	local p="$os-$arch"
	if [ "$os" = linux ] && compgen -G "/lib/ld-musl-*.so.1" >/dev/null; then p="$p-musl"; fi
	printf '%s' "$p"
}

# The release the action pins, and that release's sha256 for one archive.
pinned_version() { sed -n 's/^version //p' "$here/checksums.txt"; }
pinned_sum() { awk -v n="$1" '$2 == n { print $1 }' "$here/checksums.txt"; }

# A release version and nothing else: it becomes a folder name and a line of GITHUB_PATH.
VERSION_RE='^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$'

install() {
	local plat version name url sum cached fresh
	plat=$(platform)
	version=${RU_VERSION:-$(pinned_version)}
	[[ $version =~ $VERSION_RE ]] || fail "the version input is not a release version like v1.2.3: $(printf '%q' "$version")"
	name="runtime-upload-$plat.tar.gz"
	if [ -n "${RU_URL:-}" ]; then
		[ -n "${RU_CHECKSUM:-}" ] || fail "the url input needs the checksum input: the sha256 of that archive"
		url=$RU_URL
		sum=$RU_CHECKSUM
	else
		[ "$version" = "$(pinned_version)" ] || fail "this action pins checksums for $(pinned_version) only: for $version pass url and checksum"
		sum=$(pinned_sum "$name")
		[ -n "$sum" ] || fail "this action has no pinned checksum for $name in $version: pass url and checksum"
		url="https://github.com/runtime-upload/runtime-upload/releases/download/$version/$name"
	fi
	# The tool cache may be shared with other jobs (a self-hosted runner): it keeps only the
	# archive, which is checked against the sum above on every run, and the binary that runs
	# is unpacked from it afresh into this job's own folder. Nothing in the cache is trusted
	# for what it claims.
	cached="${RUNNER_TOOL_CACHE:?}/runtime-upload/$version/$plat/$name"
	fresh=$(mktemp -d "${RUNNER_TEMP:-/tmp}/runtime-upload-bin.XXXXXX")
	if [ -f "$cached" ] && sh "$here/../install.sh" --from-file "$cached" --sha256 "$sum" --install-dir "$fresh" >&2; then
		echo "runtime-upload $version ($plat) from the tool cache, verified" >&2
	else
		if [ -e "$cached" ]; then
			printf '::warning title=runtime-upload::%s\n' "the tool cache's $name does not match its checksum: downloading it again"
			rm -f "$cached"
		fi
		mkdir -p "$(dirname "$cached")"
		# install.sh brings the same guards as a user's install: https only, timeouts, the checksum, a real binary.
		sh "$here/../install.sh" --url "$url" --sha256 "$sum" --install-dir "$fresh" --keep-archive "$cached" >&2 ||
			fail "could not install runtime-upload $version for $plat from $url"
	fi
	echo "$fresh" >>"${GITHUB_PATH:?}"
	bin="$fresh/runtime-upload"
}

# One output line each; a value with a line break (from a hostile server) cannot add another.
output() {
	printf '%s=%s\n' "$1" "$(printf '%s' "$2" | tr -d '\r\n')" >>"${GITHUB_OUTPUT:?}"
}

field() { jq -r "$1 // empty" "$result"; }

# Server text in the job summary (Markdown, HTML allowed): every character but the few an
# image reference is made of becomes a character reference, so it shows and never renders.
cell() {
	jq -r "($1 // \"\") | [explode[] | if (. >= 48 and . <= 57) or (. >= 65 and . <= 90) or (. >= 97 and . <= 122) or ([.] | inside([45, 46, 47, 58, 64, 95])) then [.] | implode else \"&#\\(.);\" end] | join(\"\")" "$result"
}

summary() {
	local read sent secs
	read=$(field .bytes_read)
	sent=$(field .bytes_sent)
	secs=$(field .durations.total_s)
	{
		echo "### runtime-upload"
		echo ""
		echo "| image | size | ratio | time | build ID |"
		echo "|---|---|---|---|---|"
		printf '| %s | %s | %s | %s | %s |\n' \
			"$(cell .image)" \
			"$(awk -v r="${read:-0}" -v s="${sent:-0}" 'BEGIN { printf "%.1f MiB read, %.1f MiB sent", r / 1048576, s / 1048576 }')" \
			"$(awk -v r="${read:-0}" -v s="${sent:-0}" 'BEGIN { if (s > 0) printf "%.2f", r / s; else printf "-" }')" \
			"$(awk -v t="${secs:-0}" 'BEGIN { printf "%.1f s", t }')" \
			"$(cell .build_id)"
	} >>"${GITHUB_STEP_SUMMARY:?}"
}

install
result=$(mktemp "${RUNNER_TEMP:-/tmp}/runtime-upload-result.XXXXXX")
args=(--json --timeout "${RU_TIMEOUT:-30}" --poll-interval "${RU_POLL_INTERVAL:-30}" --pull "${RU_PULL:-missing}" --form "${RU_FORM:-runtime}")
if [ -n "${RU_INPUT:-}" ]; then args+=(--input "$RU_INPUT"); fi
if [ "${RU_SKIP_EXISTING:-false}" = true ]; then args+=(--skip-existing); fi
# Tags split on white space only: no globbing, no other shell meaning. The image and the
# tags come after --, so none of them (a branch named --dry-run) is read as an option.
read -r -d '' -a tags < <(printf '%s\0' "${RU_TAGS:-}") || true
args+=(-- "$RU_IMAGE" "${tags[@]}")

status=0
RUNTIME_API_URL=${RU_API_URL:-} RUNTIME_API_KEY=${RU_API_KEY:-} "$bin" "${args[@]}" >"$result" || status=$?

if ! jq -e . "$result" >/dev/null 2>&1; then fail "runtime-upload ended with exit code $status and no result"; fi
output image "$(field .image)"
output build-id "$(field .build_id)"
output skipped "$([ "$(field .outcome)" = skipped ] && echo true || echo false)"
output bytes-sent "$(field .bytes_sent)"
output sha256 "$(field .sha256)"
if [ "$status" -ne 0 ]; then
	message=$(field .error.message)
	hint=$(field .error.hint)
	printf '::error title=runtime-upload (%s)::%s\n' "$(escape "$(field .error.code)" | tr ':,' '__')" "$(escape "$message${hint:+ (hint: $hint)}")"
	exit "$status"
fi
summary
