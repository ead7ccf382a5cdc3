#!/usr/bin/env bash
# deploy/k8s/check.sh - checks tix's deployment offline: no cluster, no
# Docker engine. Run from anywhere; CI runs it on a fresh Debian 12 machine.
#
#  1. tools: kubectl (Debian's kubernetes-client when there is none), Debian's
#     kubectl 1.20 unpacked into .tools/ (kustomize v2.0.3, the oldest the
#     manifests promise to support), and the npm packages of npm/package-lock.json
#     installed into .tools/node_modules (npm ci)
#  2. each overlay (dev, production): rendered by `kubectl kustomize`, rendered
#     again by kubectl 1.20 and compared, then validated by validate.mjs
#     together with deploy/k8s/monitoring (ServiceMonitors, PrometheusRule):
#     Kubernetes schemas (kubernetes-models; the Prometheus operator's kinds
#     by hand) and the project's own rules, among them: CURVE on for the
#     broker, workers and persister with keys from Secrets, httpGet probes
#     and scrape annotations on TIX_HTTP's port, and NetworkPolicies that
#     admit only the documented flows
#  2b. deploy/monitoring: `promtool check rules` and `promtool test rules` on
#     the alert rules, and check_metrics.py: every metric the rules and the
#     Grafana dashboard (deploy/grafana) name is in metrics.txt
#  3. deploy/docker/Dockerfile: dockerfile-utils and dockerfilelint, plus the
#     project's image rules
#  4. docs/DEPLOY.md names every TIX_* variable and external Secret in use
#  5. the broken fixtures (testdata/broken): each must be rejected for every
#     reason listed in testdata/broken/expect.txt, else the check fails; its
#     dashboard.json and rules.yml must be refused by check_metrics.py
#
# Ends with "k8s-check: N passed, M failed"; exits non-zero if M > 0.
# Environment: KUBECTL (default: kubectl on PATH), TIX_K8S_TOOLS (default
# deploy/k8s/.tools). Logs of every step are in $TIX_K8S_TOOLS/logs/.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tools=${TIX_K8S_TOOLS:-$here/.tools}
export TIX_K8S_TOOLS=$tools
logs=$tools/logs
start=$(date +%s)
passed=0
failed=0

pass() { passed=$((passed + 1)); echo "PASS  $*"; }
indent() { sed 's/^/      /'; }
fail() { failed=$((failed + 1)); echo "FAIL  $*"; }
finish() {
    echo "k8s check: finished in $(($(date +%s) - start)) s; logs in $logs"
    echo "k8s-check: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}
# Runs a command as root (directly, or through sudo).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "check: '$*' needs root" >&2
        return 1
    fi
}
apt_updated=
apt_update_once() {
    [ -n "$apt_updated" ] && return 0
    apt_updated=1
    as_root apt-get update -q >>"$logs/apt.log" 2>&1
}
kubectl_minor() { "$1" version --client 2>/dev/null | grep -o 'v1\.[0-9]*' | head -1; }

mkdir -p "$logs"
rm -f "$logs"/*.log

# ---- 1. tools ---------------------------------------------------------------

kubectl=${KUBECTL:-kubectl}
if ! command -v "$kubectl" >/dev/null; then
    echo "check: no kubectl: installing Debian's kubernetes-client"
    apt_update_once
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends kubernetes-client \
        >>"$logs/apt.log" 2>&1
fi
if command -v "$kubectl" >/dev/null; then
    pass "tools: $kubectl $(kubectl_minor "$kubectl")"
else
    fail "tools: no kubectl (see $logs/apt.log)"
    finish
fi

# Debian's kubectl 1.20 (kustomize v2.0.3), unpacked, not installed: it would
# clash with another kubectl package's /usr/bin/kubectl.
old_kubectl=
if [ "$(kubectl_minor "$kubectl")" = v1.20 ]; then
    old_kubectl=$kubectl
else
    old_kubectl=$tools/kubernetes-client/usr/bin/kubectl
    if [ ! -x "$old_kubectl" ]; then
        mkdir -p "$tools/kubernetes-client"
        (
            cd "$tools" || exit 1
            rm -f kubernetes-client_*.deb
            apt-get download kubernetes-client >>"$logs/apt.log" 2>&1 ||
                { apt_update_once && apt-get download kubernetes-client >>"$logs/apt.log" 2>&1; }
        ) && dpkg-deb -x "$tools"/kubernetes-client_*.deb "$tools/kubernetes-client"
    fi
    if [ "$(kubectl_minor "$old_kubectl")" = v1.20 ]; then
        pass "tools: Debian's kubectl v1.20 (kustomize v2.0.3) in $tools/kubernetes-client"
    else
        fail "tools: could not unpack Debian's kubernetes-client (see $logs/apt.log)"
        old_kubectl=
    fi
fi

# npm packages, pinned by npm/package-lock.json; reinstalled when it changes.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    fail "tools: node and npm are needed (Node 20)"
    finish
fi
lock_sum=$(cat "$here/npm/package.json" "$here/npm/package-lock.json" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$tools/.npm-installed" 2>/dev/null)" != "$lock_sum" ] || [ ! -d "$tools/node_modules" ]; then
    cp "$here/npm/package.json" "$here/npm/package-lock.json" "$tools/"
    if (cd "$tools" && npm ci --no-audit --no-fund >"$logs/npm.log" 2>&1); then
        echo "$lock_sum" >"$tools/.npm-installed"
    fi
fi
if [ "$(cat "$tools/.npm-installed" 2>/dev/null)" = "$lock_sum" ]; then
    pass "tools: npm packages (kubernetes-models $(node -p "require('$tools/node_modules/kubernetes-models/package.json').version"), dockerfile-utils, dockerfilelint, js-yaml) in $tools/node_modules"
else
    fail "tools: npm ci failed (see $logs/npm.log)"
    finish
fi

# ---- 2. overlays ----------------------------------------------------------------

# render NAME DIR: renders DIR with both kubectls into $tools/rendered/NAME.yaml.
render() {
    local name=$1 dir=$2 out=$tools/rendered/$1.yaml
    mkdir -p "$tools/rendered"
    if "$kubectl" kustomize "$dir" >"$out" 2>"$logs/render-$name.log"; then
        pass "$name: rendered by $kubectl kustomize ($(grep -c '^kind:' "$out") objects)"
    else
        fail "$name: $kubectl kustomize failed:"
        indent <"$logs/render-$name.log"
        return 1
    fi
    if [ -n "$old_kubectl" ] && [ "$old_kubectl" != "$kubectl" ]; then
        local old=$tools/rendered/$name.kubectl-1.20.yaml
        if ! "$old_kubectl" kustomize "$dir" >"$old" 2>"$logs/render-$name-1.20.log"; then
            fail "$name: kubectl 1.20 (kustomize v2.0.3) cannot render it:"
            indent <"$logs/render-$name-1.20.log"
        elif node "$here/validate.mjs" --same "$out" "$old" >"$logs/same-$name.log" 2>&1; then
            pass "$name: kubectl 1.20 (kustomize v2.0.3) renders the same objects ($(tail -1 "$logs/same-$name.log"))"
        else
            fail "$name: kubectl 1.20 renders it differently:"
            indent <"$logs/same-$name.log"
        fi
    fi
}

# validate NAME [ARGS...]: runs validate.mjs on the rendering; sets $vrc.
validate() {
    local name=$1
    shift
    node "$here/validate.mjs" --source "$root" "$@" "$tools/rendered/$name.yaml" >"$logs/validate-$name.log" 2>&1
    vrc=$?
}

# The Prometheus operator's objects: applied apart from the overlays, checked
# with each of them (their ServiceMonitors select the overlay's Services).
monitoring=()
if render monitoring "$here/monitoring"; then monitoring=(--with "$tools/rendered/monitoring.yaml"); fi

for overlay in dev production; do
    dir=$here/overlays/$overlay
    render "$overlay" "$dir" || continue
    ext=()
    [ -f "$dir/external-secrets.txt" ] && ext=(--external-secrets "$dir/external-secrets.txt")
    validate "$overlay" "${ext[@]}" "${monitoring[@]}"
    summary=$(grep '^validate ' "$logs/validate-$overlay.log" | sed 's/^validate [^:]*: schema \([0-9]*\) passed.*/\1 objects/')
    if [ "$vrc" -ge 4 ]; then
        fail "$overlay: validate.mjs could not run:"
        indent <"$logs/validate-$overlay.log"
        continue
    fi
    if [ $((vrc & 1)) -eq 0 ]; then pass "$overlay: every object valid against the Kubernetes schemas ($summary)"; else
        fail "$overlay: schema violations:"
        grep -A30 '^FAIL schema' "$logs/validate-$overlay.log" | grep -E '^FAIL schema|^       - ' | indent
    fi
    if [ $((vrc & 2)) -eq 0 ]; then pass "$overlay: project rules (probes, limits, securityContext, TIX_* variables, endpoints, CURVE keys from Secrets, NetworkPolicies)"; else
        fail "$overlay: project rules violated:"
        grep -A30 '^FAIL project' "$logs/validate-$overlay.log" | grep -E '^FAIL project|^       - ' | indent
    fi
    grep '^note ' "$logs/validate-$overlay.log" | indent
done

# ---- 2b. alert rules and dashboard -------------------------------------------------

mon=$root/deploy/monitoring
dashboard=$root/deploy/grafana/tix-dashboard.json
promtool=${PROMTOOL:-promtool}
if ! command -v "$promtool" >/dev/null; then
    fail "tools: no promtool (deploy/install-deps.sh installs Debian's prometheus package)"
else
    if "$promtool" check rules "$mon/tix.rules.yml" >"$logs/promtool-check.log" 2>&1; then
        pass "alert rules: promtool check rules ($(grep -o '[0-9]* rules found' "$logs/promtool-check.log"))"
    else
        fail "alert rules: promtool check rules:"
        indent <"$logs/promtool-check.log"
    fi
    if (cd "$mon" && "$promtool" test rules tix.rules.test.yml) >"$logs/promtool-test.log" 2>&1; then
        pass "alert rules: promtool test rules (each alert fires on its series, after its for)"
    else
        fail "alert rules: promtool test rules:"
        indent <"$logs/promtool-test.log"
    fi
fi
check_metrics() { python3 "$mon/check_metrics.py" "$mon/metrics.txt" "$@"; }
if check_metrics "$dashboard" "$mon/tix.rules.yml" "$tools/rendered/monitoring.yaml" >"$logs/metrics.log" 2>&1; then
    pass "dashboard and rules name only metrics of deploy/monitoring/metrics.txt ($(tail -1 "$logs/metrics.log" | sed 's/^check_metrics: //'))"
else
    fail "dashboard or rules name unknown metrics:"
    indent <"$logs/metrics.log"
fi
if python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["panels"] and d["title"]' "$dashboard" 2>"$logs/dashboard.log"; then
    pass "dashboard: $(grep -c '"expr"' "$dashboard") queries in $(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["panels"]))' "$dashboard") panels, valid JSON"
else
    fail "dashboard: not a dashboard JSON:"
    indent <"$logs/dashboard.log"
fi

# ---- 3. the Dockerfile -------------------------------------------------------------

dockerfile=$root/deploy/docker/Dockerfile
bin=$tools/node_modules/.bin
# lint_dockerfile FILE: 0 when both linters accept FILE; output in $lint_out.
lint_dockerfile() {
    local rc=0
    lint_out=$("$bin/dockerfile-utils" lint "$1" 2>&1) || rc=1
    # dockerfile-utils exits 0 even on errors: its output is the verdict.
    [ -n "$lint_out" ] && rc=1
    local out2
    out2=$("$bin/dockerfilelint" "$1" 2>&1) || rc=1
    lint_out="$lint_out$out2"
    return $rc
}
if lint_dockerfile "$dockerfile"; then
    pass "Dockerfile: dockerfile-utils and dockerfilelint find nothing"
else
    fail "Dockerfile: linters complain:"
    indent <<<"$lint_out"
fi

# image_rules FILE: the image rules the linters do not know, one line each.
image_rules() {
    awk -v deps="$root/deploy/install-deps.sh" '
    BEGIN { while ((getline l < deps) > 0) { n = split(l, w, /[ \t]+/); for (i = 1; i <= n; i++) dep[w[i]] = 1 } }
    /^ARG RUNTIME_IMAGE=/ { runtime_default = substr($0, index($0, "=") + 1) }
    /^FROM / { stage++; final_from = $2; user = ""; in_apt = 0 }
    /^ENTRYPOINT/ { print "has an ENTRYPOINT (the image has none: pods set command)" }
    /^USER / { user = $2 }
    /apt-get install/ { in_apt = 1 }
    in_apt {
        for (i = 1; i <= NF; i++) {
            if ($i ~ /^[a-z0-9][a-z0-9.+-]+$/ && $i !~ /^(apt-get|install|rm|apt|clean)$/) pkg[stage, $i] = 1
        }
        if ($0 !~ /\\$/ || $0 ~ /&& (rm|apt-get clean)/) in_apt = 0
    }
    END {
        if (final_from != "${RUNTIME_IMAGE}") print "the final stage is not FROM ${RUNTIME_IMAGE}"
        if (runtime_default !~ /^debian:bookworm-slim/) print "RUNTIME_IMAGE defaults to " runtime_default ", not debian:bookworm-slim"
        split(user, u, ":")
        if (u[1] !~ /^[0-9]+$/ || u[1] == 0) print "the final USER is \"" user "\": want a numeric non-root uid (runAsNonRoot verifies it)"
        for (k in pkg) {
            split(k, sp, SUBSEP)
            if (sp[1] == stage && sp[2] ~ /-dev$/) print "runtime stage installs " sp[2]
            if (sp[1] < stage && !(sp[2] in dep)) print "builder installs " sp[2] ", which deploy/install-deps.sh does not"
        }
    }' "$1"
}
problems=$(image_rules "$dockerfile")
if [ -z "$problems" ]; then
    pass "Dockerfile: slim runtime, numeric non-root USER, no ENTRYPOINT, builder packages within install-deps.sh"
else
    fail "Dockerfile: image rules:"
    indent <<<"$problems"
fi

# ---- 4. docs/DEPLOY.md matches the manifests -----------------------------------------

deploy_md=$root/docs/DEPLOY.md
if [ ! -f "$deploy_md" ]; then
    fail "docs/DEPLOY.md does not exist"
else
    missing=
    vars=$(cat "$tools"/rendered/dev.yaml "$tools"/rendered/production.yaml 2>/dev/null | grep -oE '\bTIX_[A-Z0-9_]+' | sort -u)
    for v in $vars; do grep -q "\b$v\b" "$deploy_md" || missing="$missing $v"; done
    while read -r name keys; do
        case "$name" in '#'* | '') continue ;; esac
        for w in $name $keys; do grep -q -- "$w" "$deploy_md" || missing="$missing $w"; done
    done <"$here/overlays/production/external-secrets.txt"
    if [ -z "$missing" ]; then
        pass "docs/DEPLOY.md names every TIX_* variable the manifests set ($(wc -w <<<"$vars")) and every external Secret and key"
    else
        fail "docs/DEPLOY.md does not mention:$missing"
    fi
fi

# ---- 5. the broken fixtures must be caught ----------------------------------------------

fixture=$here/testdata/broken
if render broken "$fixture"; then
    validate broken --with "$fixture/monitoring.yaml"
    if [ $((vrc & 1)) -ne 0 ] && [ "$vrc" -lt 4 ]; then pass "broken fixture: schema violations detected"; else
        fail "broken fixture: NOT caught by the schema check (validate.mjs exit $vrc)"
    fi
    if [ $((vrc & 2)) -ne 0 ] && [ "$vrc" -lt 4 ]; then pass "broken fixture: project rule violations detected"; else
        fail "broken fixture: NOT caught by the project check (validate.mjs exit $vrc)"
    fi
    findings=$(grep '^       - ' "$logs/validate-broken.log")
    while IFS= read -r want; do
        case "$want" in '#'* | '') continue ;; esac
        if grep -qF -- "$want" <<<"$findings"; then pass "broken fixture: caught \"$want\""; else
            fail "broken fixture: NOT caught: \"$want\""
        fi
    done <"$fixture/expect.txt"
fi
for bad in dashboard.json rules.yml; do
    if check_metrics "$fixture/$bad" >"$logs/metrics-broken.log" 2>&1; then
        fail "broken fixture: check_metrics.py accepts testdata/broken/$bad"
    else
        pass "broken fixture: check_metrics.py refuses testdata/broken/$bad ($(grep -o 'unknown metric [a-z_]*' "$logs/metrics-broken.log" | sed 's/unknown metric //' | paste -sd, -))"
    fi
done
if lint_dockerfile "$fixture/Dockerfile"; then
    fail "broken fixture: the linters accept testdata/broken/Dockerfile"
else
    n=$(echo "$lint_out" | grep -cE '^(Error|Line [0-9]+:)')
    pass "broken fixture: the linters reject testdata/broken/Dockerfile ($n findings)"
fi

finish
