# Sourced by scripts/test.sh: what the browser client's end-to-end test needs. Debian's
# chromium (apt, once) and playwright-core (npm, pinned in web/tests/package-lock.json,
# into the git-ignored web/tests/node_modules). Exports CHAT_TEST_CHROMIUM.

web_install() {
    local chromium
    chromium="$(command -v chromium || true)"
    if [ -z "$chromium" ]; then
        echo "installing chromium (Debian package) for the browser tests"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
        chromium="$(command -v chromium)"
    fi
    if [ ! -d web/tests/node_modules/playwright-core ]; then
        echo "installing playwright-core (npm) into web/tests/node_modules"
        npm ci --prefix web/tests --no-audit --no-fund --silent
    fi
    export CHAT_TEST_CHROMIUM="$chromium"
}
