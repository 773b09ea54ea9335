# The gateway asks data.ura.decision once per record, pushed or pulled.
#
# input:
#   caller    {member, nation, kind, clearance, roles}; absent when the
#             certificate names no registered member
#   action    "push" | "pull"
#   record    the record document, label included
#   previous  the stored version a push would replace, or null
#   now       the time of the decision, RFC 3339 (label.rego, review dates)
#   registers of a push: the entries of the registers this record refers to
#             (licences, entities, excluded.by_id, excluded.by_name,
#             exported), read by the gateway from its store for the batch
#             (gateway/ARCHITECTURE.md, "Policy contract"); absent on a pull
#   release   of a pull, only when two officers' release of this record
#             version to this caller is in force (authority.rego):
#             {id, record_id, version, recipient}; absent otherwise
# data:
#   ura_data   this bundle's tables (data.json)
#
# Every rule that can refuse adds one reason to `deny`; a record is allowed
# only when a grant applies and no reason was given.
package ura

default decision := {
	"allow": false,
	"redact": [],
	"redactions": [],
	"reasons": [{"code": "default_deny", "message": "no policy rule allows this"}],
}

# A refused record is not delivered, so nothing in it is redacted. The last
# branch, nothing granted and no reason given, is what not_granted exists to
# prevent; should it ever be reached, the record is still refused.
#
# `redactions` is `redact` again, each pointer with the ID of the rule that
# removed it, so that a recipient can tell why a field is missing
# (gateway/ARCHITECTURE.md, "Policy contract").
#
# The decision is one rule with an else chain rather than an object of
# allow, redactions and reasons rules: OPA evaluates every rule anew for each
# record, and a rule costs more than the test inside it.
decision := {"allow": false, "redact": [], "redactions": [], "reasons": [id_outside_namespace]} if {
	# First, and alone: a pushed id outside its originator's namespace is
	# refused with this one reason whether or not a record with that id is
	# stored, so the refusal tells nothing about a record the caller may not
	# see (push.rego, "Record ids").
	input.action == "push"
	registered
	not id_in_namespace
} else := allowed(sort(redact), sort(notes)) if {
	granted
	count(deny) == 0
} else := allowed(sort(redact), sort(authority_notes)) if {
	# Released by two-person authority (authority.rego): only ever after
	# the grant and its refusals, so no other decision costs more.
	released_by_authority
} else := {"allow": false, "redact": [], "redactions": [], "reasons": sort(deny), "releasable_by_authority": true} if {
	count(deny) > 0
	releasable_by_authority
} else := {"allow": false, "redact": [], "redactions": [], "reasons": sort(deny)} if {
	count(deny) > 0
} else := {"allow": false, "redact": [], "redactions": [], "reasons": sort(notes)}

# An allowed record's decision; `translations` only when the delivered
# label is translated (label.rego), so that a decision on a record in the
# recipient's own policy is what it always was. A record with nothing
# removed, every push, is written out first: no redactions() call for an
# empty list.
allowed(removed, reasons) := {"allow": true, "redact": [], "redactions": [], "reasons": reasons} if {
	count(removed) == 0
	count(translations) == 0
} else := {"allow": true, "redact": removed, "redactions": redactions(removed), "reasons": reasons} if {
	count(translations) == 0
} else := {"allow": true, "redact": removed, "redactions": redactions(removed), "reasons": reasons, "translations": translations}

granted if push_granted

granted if pull_granted

deny contains reason("unregistered_member", "only registered members may push or pull records") if {
	not registered
}

# Every grant names its action, so only a record that nothing grants can
# have an unknown one: asking that first spares every allowed record the
# question.
deny contains reason("unknown_action", msg) if {
	registered
	not granted
	not known_action
	msg := sprintf("unknown action %v: only push and pull are decided here", [object.get(input, "action", "(missing)")])
}

# Negations test helper rules, never an expression over input directly:
# OPA evaluates `not x in s` as false, not true, when x is missing.
known_action if input.action in {"push", "pull"}

# Each grant that does not apply says why in its own rule; this one catches
# a grant missing for any other reason, so that a refusal always has one.
deny contains reason("not_granted", "no rule grants this action on this record") if {
	registered
	not granted
	input.action in {"push", "pull"}
	not grant_refusal_explained
}

grant_refusal_explained if {
	input.action == "push"
	not push_authority_covers
}

grant_refusal_explained if {
	input.action == "pull"
	not pull_kind_permitted
}

# The one reason an allowed record can carry, so the object is written out:
# a call to reason() per record costs more than building it.
#
# redact has members on a pull only; the action, tested here too, is what
# OPA's rule index keys on, so that no push evaluates this rule.
notes contains {"code": "redacted", "message": msg} if {
	input.action == "pull"
	count(redact) > 0
	msg := sprintf("%d field(s) withheld from a %s member: %s", [count(redact), input.caller.kind, concat(", ", sort(redact))])
}

# Every pointer is removed by the redaction table entry of the caller's kind
# and the record's kind (pull.rego), so that entry's key is the rule ID:
# stable across revisions for as long as the table keeps the entry.
redactions(pointers) := [{"pointer": p, "rule": rule} |
	some p in pointers
	rule := redaction_rule
]

redaction_rule := concat(".", ["redactions", input.caller.kind, input.record.kind])
