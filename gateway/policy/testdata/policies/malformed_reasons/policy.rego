package ura

decision := {"allow": false, "redact": [], "reasons": ["no"]}
