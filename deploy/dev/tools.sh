#!/usr/bin/env bash
# Builds the tools the tests use beyond the development stack, once per
# pinned version, into ~/.cache/ura (versions in deploy/dev/lib.sh): OPA's
# own server; helm and kubeconform with Kubernetes' JSON schemas for the
# chart in deploy/helm. Safe to re-run: a built version is reused.
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v go >/dev/null || die "go is not on PATH"
ensure_opa
say "tools:    opa $OPA_VERSION at $(opa_bin)"
ensure_go_tool helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm
ensure_go_tool kubeconform "$KUBECONFORM_VERSION" github.com/yannh/kubeconform/cmd/kubeconform
ensure_k8s_schemas
say "tools:    helm $HELM_VERSION, kubeconform $KUBECONFORM_VERSION, Kubernetes $K8S_SCHEMA_VERSION schemas in $(k8s_schema_dir)"
