# Sourced by scripts/test.sh: what the browser client's end-to-end test needs. Debian's
# chromium and emoji font (apt, once) and playwright-core (npm, pinned in web/tests/package-lock.json,
# into the git-ignored web/tests/node_modules). Exports CHAT_TEST_CHROMIUM.

web_install() {
    local chromium sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    chromium="$(command -v chromium || true)"
    # The emoji font: reactions and marks in screenshots are pictures, not empty boxes.
    if [ -z "$chromium" ] || ! dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; then
        echo "installing chromium and an emoji font (Debian packages) for the browser tests"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            chromium fonts-noto-color-emoji >/dev/null
        chromium="$(command -v chromium)"
    fi
    if [ ! -d web/tests/node_modules/playwright-core ]; then
        echo "installing playwright-core (npm) into web/tests/node_modules"
        npm ci --prefix web/tests --no-audit --no-fund --silent
    fi
    export CHAT_TEST_CHROMIUM="$chromium"
}
