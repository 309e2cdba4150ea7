#!/usr/bin/env bash
# Static checks of terraform/, offline: `terraform fmt -check` (formatting and syntax), then checkov
# (security and best-practice rules). Exits non-zero on a formatting or syntax error or on any
# failed check; a skipped check needs an inline `# checkov:skip=CKV_...:<reason>` in terraform/.
#
# checkov lives in its own virtualenv, .venv-checkov (created on first run, needs PyPI then):
# its bc-python-hcl2 dependency replaces python-hcl2's `hcl2` module, which the tests use.
set -euo pipefail
cd "$(dirname "$0")/.."

CHECKOV_VERSION=3.3.30
VENV=.venv-checkov
PYTHON=${PYTHON:-python3.11}

if ! command -v terraform >/dev/null 2>&1; then
  echo "checkov.sh: terraform is not on PATH (https://developer.hashicorp.com/terraform/install)" >&2
  exit 2
fi

echo "terraform fmt -check -recursive terraform/"
terraform fmt -check -recursive -diff terraform/

installed=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("checkov"))' 2>/dev/null || true)
if [ "$installed" != "$CHECKOV_VERSION" ]; then
  echo "installing checkov $CHECKOV_VERSION into $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
fi

echo "checkov $CHECKOV_VERSION -d terraform/"
# terraform/build holds the staged function source (make function-source): code, not infrastructure.
"$VENV/bin/checkov" --skip-download --quiet --compact -d terraform/ --skip-path terraform/build
