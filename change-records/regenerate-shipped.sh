#!/usr/bin/env bash
# Maintainers only: re-create the shipped records ECR-{preprod,val,prod}-0001 so that they approve
# the CURRENT desired state (the digest covers components/, __main__.py, Pulumi.yaml,
# requirements.txt and the stack files). Uses the ordinary draft/approve path, never hand edits.
# Refuses to delete a chain that has more than its first record: that would be real history.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
# Who asks and who approves are said by the people running it, every time: no defaults.
REQUESTER="${REQUESTER:?set REQUESTER to the requester of the example records}"
APPROVER="${APPROVER:?set APPROVER to their approver, another person}"
envctl() { "$PY" -m envctl.ecr_cli --dir . "$@"; }  # the same commands as envctl

declare -A TITLE=(
  [preprod]="Create acme Pre-PROD"
  [val]="Create acme VAL pair from Pre-PROD snapshot val-2026-11"
  [prod]="Create acme PROD pair, main promoted from Pre-PROD snapshot golive"
)
declare -A REASON=(
  [preprod]="Onboarding of acme: Pre-PROD is where the real configuration and master library are built by hand."
  [val]="Onboarding of acme: validation of the Pre-PROD configuration on a qualified VAL pair."
  [prod]="Onboarding of acme: go-live; PROD main is restored from Pre-PROD's final snapshot, PROD test starts empty."
)

for stack in preprod val prod; do
  extra=$( (find "change-records/$stack" -type f ! -name "ECR-$stack-0001.yaml" 2>/dev/null || true) | head -1)
  if [ -n "$extra" ]; then
    echo "refusing: change-records/$stack has records beyond ECR-$stack-0001 ($extra)" >&2
    exit 2
  fi
done
for stack in preprod val prod; do
  rm -f "change-records/$stack/ECR-$stack-0001.yaml"
  envctl ecr new "$stack" --title "${TITLE[$stack]}" --reason "${REASON[$stack]}" --by "$REQUESTER" >/dev/null
  envctl ecr approve "ECR-$stack-0001" --by "$APPROVER" >/dev/null
  echo "ECR-$stack-0001 approves $(envctl digest "$stack")"
done
envctl ecr verify
