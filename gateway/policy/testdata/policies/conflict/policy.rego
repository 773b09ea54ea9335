package ura

# Two values for one complete rule: a conflict error at evaluation.
decision := {"allow": true, "redact": [], "reasons": []} if input.action

decision := {"allow": false, "redact": [], "reasons": []} if input.record
