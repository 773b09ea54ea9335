package ura

decision := {"allow": "yes", "redact": [], "reasons": []}
