# Sourced by scripts/test.sh: Helm (built from the Go module proxy, cached in the git-ignored
# .cache/) and kubernetes-validate (PyPI, offline Kubernetes schemas), then the chart checks:
# lint, render with the default and a production-like values file, validate the manifests
# against the oldest and newest Kubernetes the chart supports, and refuse invalid values.
# Exports CHAT_TEST_HELM and CHAT_TEST_YAML_PYTHON (a Python with PyYAML) for the test that
# runs chatnode exactly as the chart configures it.

HELM_VERSION="v3.22.0"
HELM_BIN=".cache/helm-$HELM_VERSION/helm"
KUBE_VALIDATE_VERSION="1.37.0"
KUBE_VALIDATE_VENV=".cache/kubernetes-validate-$KUBE_VALIDATE_VERSION"
CHART="helm/chatcluster"
# The chart's kubeVersion floor, and the newest schemas kubernetes-validate bundles.
KUBE_VERSIONS="1.25.0 1.37.0"

helm_install() {
    if [ ! -x "$HELM_BIN" ]; then
        echo "building helm $HELM_VERSION from the Go module proxy into $(dirname "$HELM_BIN") (a few minutes, once)"
        GOBIN="$(pwd)/$(dirname "$HELM_BIN")" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
    fi
    if [ ! -x "$KUBE_VALIDATE_VENV/bin/kubernetes-validate" ]; then
        echo "installing kubernetes-validate $KUBE_VALIDATE_VERSION (PyPI) into $KUBE_VALIDATE_VENV"
        python3 -m venv "$KUBE_VALIDATE_VENV"
        "$KUBE_VALIDATE_VENV/bin/pip" install --quiet "kubernetes-validate==$KUBE_VALIDATE_VERSION"
    fi
    export CHAT_TEST_HELM="$(pwd)/$HELM_BIN"
    export CHAT_TEST_YAML_PYTHON="$(pwd)/$KUBE_VALIDATE_VENV/bin/python"
}

# Renders with the given extra arguments and validates the result for every version.
helm_render_and_validate() {
    local out version
    out="$(mktemp)"
    for version in $KUBE_VERSIONS; do
        "$HELM_BIN" lint --strict "$CHART" --kube-version "$version" "$@" >/dev/null
        "$HELM_BIN" template chat "$CHART" --kube-version "$version" "$@" >"$out"
        # ServiceMonitor is a CRD (Prometheus Operator): no bundled schema, only a warning.
        "$KUBE_VALIDATE_VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "$out"
    done
    rm -f "$out"
}

# Values that must be refused at template time, each with the error it must give.
helm_expect_refused() {
    local why="$1"
    shift
    local err
    if err="$("$HELM_BIN" template chat "$CHART" --kube-version 1.37.0 "$@" 2>&1 >/dev/null)"; then
        echo "chart accepted invalid values ($why): $*" >&2
        return 1
    fi
    if ! grep -q "values don't meet the specifications of the schema" <<<"$err"; then
        echo "chart refused $why without a schema error: $err" >&2
        return 1
    fi
}

helm_check() {
    helm_install
    helm_render_and_validate
    helm_render_and_validate -f helm/ci/production-values.yaml
    helm_expect_refused "negative replicas" --set replicaCount=-1
    helm_expect_refused "no NATS address" --set nats.url=
    helm_expect_refused "no CQL contact point" --set-json 'cql.contactPoints=[]'
    helm_expect_refused "no file bucket" --set files.s3.bucket=
    helm_expect_refused "an unknown key" --set replicas=3
    helm_expect_refused "an unknown nested key" --set cluster.cookie=abc
    helm_expect_refused "a bad consistency" --set cql.consistency=eventually
    echo "helm chart: lint, render, schemas for Kubernetes $KUBE_VERSIONS, invalid values refused"
}
