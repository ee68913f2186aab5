#!/usr/bin/env bash
# Maintainers only: re-create the shipped EXAMPLE records so that they approve the current state:
#   ECR-tooling-0001            the policy pack and envctl (approved once for the fleet)
#   ECR-{preprod,val,prod}-0001 the desired state of each controlled example stack
# They are drafted and approved through the ordinary commands, in example mode, signed with the
# published example keys (tests/example/keys): a.berger requests, m.keller approves. Nothing here is
# evidence; a real team's records are never regenerated, every change gets the next record.
# Refuses to touch a chain that has grown beyond its first record: that would be real history.
set -euo pipefail
cd "$(dirname "$0")/.."
ENVCTL="${ENVCTL:-.venv/bin/envctl}"
REQUESTER=tests/example/keys/a.berger
APPROVER=tests/example/keys/m.keller
chmod 600 "$REQUESTER" "$APPROVER"  # git keeps no permissions; OpenSSH refuses readable private keys
envctl() { "$ENVCTL" --example --dir . "$@"; }

declare -A TITLE=(
  [tooling]="Policy pack and envctl of this checkout"
  [preprod]="Create acme Pre-PROD"
  [val]="Create acme VAL pair from Pre-PROD snapshot val-2026-11"
  [prod]="Create acme PROD pair, main promoted from Pre-PROD snapshot golive"
)
declare -A REASON=(
  [tooling]="The example's tooling: the change-control, lifecycle and security rules and envctl as reviewed."
  [preprod]="Onboarding of acme: Pre-PROD is where the real configuration and master library are built by hand."
  [val]="Onboarding of acme: validation of the Pre-PROD configuration on a qualified VAL pair."
  [prod]="Onboarding of acme: go-live; PROD main is restored from Pre-PROD's final snapshot, PROD test starts empty."
)

for chain in tooling preprod val prod; do
  extra=$( (find "change-records/$chain" -type f ! -name "ECR-$chain-0001.*" 2>/dev/null || true) | head -1)
  if [ -n "$extra" ]; then
    echo "refusing: change-records/$chain has records beyond ECR-$chain-0001 ($extra)" >&2
    exit 2
  fi
done
for chain in tooling preprod val prod; do
  rm -f "change-records/$chain/ECR-$chain-0001".*
  envctl ecr new "$chain" --title "${TITLE[$chain]}" --reason "${REASON[$chain]}" --key "$REQUESTER" >/dev/null
  envctl ecr approve "ECR-$chain-0001" --key "$APPROVER" >/dev/null
  echo "ECR-$chain-0001 approves $(envctl digest "$chain")"
done
envctl ecr verify
