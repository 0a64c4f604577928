# Sourced by scripts/test.sh: the TypeScript SDK (sdk/js). Installs its pinned packages (npm,
# into the git-ignored sdk/js/node_modules), regenerates the frame types from proto/ and the
# browser bundle web/js/sdk.js and fails when either differs from what is checked in, and
# builds the package. Exports CHAT_TEST_SDK_JS for the integration test that runs the SDK's
# own tests against real nodes (node/tests/integration/sdk.rs).

sdk_check() {
    if [ ! -d sdk/js/node_modules/@bufbuild/protobuf ] || [ sdk/js/package-lock.json -nt sdk/js/node_modules/.package-lock.json ]; then
        echo "installing the SDK's packages (npm) into sdk/js/node_modules"
        npm ci --prefix sdk/js --no-audit --no-fund --silent
    fi
    (cd sdk/js && npm run --silent generate)
    if [ -n "$(git status --porcelain -- sdk/js/src/gen)" ]; then
        git status --short -- sdk/js/src/gen >&2
        echo "sdk/js/src/gen differs from what proto/ generates: run 'npm run generate' in sdk/js" >&2
        return 1
    fi
    (cd sdk/js && npm run --silent build && node scripts/bundle.mjs --check)
    export CHAT_TEST_SDK_JS="$(pwd)/sdk/js"
    echo "sdk/js: generated types and web/js/sdk.js match their sources; built"
}
