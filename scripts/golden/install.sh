#!/usr/bin/env bash
# Installs what scripts/golden/make_golden.py needs (only to regenerate the committed golden files).
set -euo pipefail
python3 -m pip install --quiet "twilio==9.13.0" "phonenumbers==9.0.43" "standardwebhooks==1.3.0"
