# Labels (STANAG 4774) and their review dates.
#
# A label's classification is expressed in the security policy its
# policy_id names: NATO when it names none, which is how every label read
# before labels named a policy is read, or a nation's policy (AL, IT, CZ,
# HR). data.ura_data.marking_map holds, per national policy, its nation and
# what each of its levels is in NATO's, with the source of the table; the
# way back, NATO to a national level, is the same table read backwards.
#
#   - Clearances are NATO levels, so a national marking is compared through
#     its NATO level (clearance, no label downgrade).
#   - A record in a national marking leaves for a recipient of another
#     policy with its label translated: to NATO, then, for a recipient whose
#     nation has a policy in the table, to that policy. Every step is listed
#     in the decision's `translations`, each with the table entry that made
#     it; the gateway applies them to the delivered label.
#   - A marking the table does not map, either way, fails closed: a push is
#     refused and a pull withheld (marking_unmapped), the message naming the
#     policy and the level.
#   - A national level above NATO SECRET (TEPËR SEKRET is COSMIC TOP SECRET)
#     is above anything this gateway handles: data.ura_data.classifications
#     ranks no higher level, so such a push is refused
#     (classification_not_handled) and nothing is ever cleared for it.
#
# Review: past its label.review date a record is withheld from the member
# kinds of data.ura_data.review_withheld_from (partners, liaison offices and
# peer gateways, which forward to partners) with review_overdue, until its
# originator pushes a version with a later review date. "Now" is the
# decision's time, input.now (lib.rego).
package ura

record_policy := p if {
	p := input.record.label.policy_id
	is_string(p)
} else := "NATO"

national_label if record_policy != "NATO"

# The record's classification as a NATO level; undefined when the table
# does not map it.
record_nato_level := input.record.label.classification if not national_label

record_nato_level := data.ura_data.marking_map.policies[record_policy].to_nato[input.record.label.classification] if national_label

# The same for any label (the previous version's).
nato_level(label) := label.classification if not label_is_national(label)

nato_level(label) := data.ura_data.marking_map.policies[label.policy_id].to_nato[label.classification] if label_is_national(label)

label_is_national(label) if {
	is_string(label.policy_id)
	label.policy_id != "NATO"
}

deny contains reason("marking_unmapped", msg) if {
	registered
	national_label
	input.action in {"push", "pull"}
	not record_nato_level
	msg := sprintf("%v is marked %v under policy %v, which marking_map does not map to NATO", [rec(["id"]), rec(["label", "classification"]), record_policy])
}

deny contains reason("classification_not_handled", msg) if {
	input.action == "push"
	registered
	national_label
	not data.ura_data.classifications[record_nato_level]
	msg := sprintf("%v is marked %v under policy %v, which is %v: above SECRET, the highest level this gateway handles", [rec(["id"]), rec(["label", "classification"]), record_policy, record_nato_level])
}

# The policy a recipient reads labels in: its nation's, when the table has
# one (this gateway's own institutions read AL), else NATO's (the liaison
# office, a nation without a policy in the table).
recipient_policy := p if {
	some p, def in data.ura_data.marking_map.policies
	def.nation == input.caller.nation
} else := "NATO"

translated if {
	input.action == "pull"
	national_label
	record_policy != recipient_policy
}

# The recipient policy's level for the record's NATO level.
recipient_level := lvl if {
	some lvl, nato in data.ura_data.marking_map.policies[recipient_policy].to_nato
	nato == record_nato_level
}

# translated asks input.action == "pull" too; written here as well, it is
# what OPA's rule index keys on, so that no push evaluates this rule.
deny contains reason("marking_unmapped", msg) if {
	input.action == "pull"
	registered
	translated
	recipient_policy != "NATO"
	record_nato_level
	not recipient_level
	msg := sprintf("%v is NATO %v, for which marking_map has no marking under policy %v", [rec(["id"]), record_nato_level, recipient_policy])
}

default translations := []

translations := array.concat([to_nato_step], from_nato_steps) if {
	input.action == "pull"
	translated
}

to_nato_step := {
	"from": {"policy_id": record_policy, "classification": input.record.label.classification},
	"to": {"policy_id": "NATO", "classification": record_nato_level},
	"rule": concat(".", ["marking_map.policies", record_policy]),
}

from_nato_steps := [] if {
	recipient_policy == "NATO"
} else := [{
	"from": {"policy_id": "NATO", "classification": record_nato_level},
	"to": {"policy_id": recipient_policy, "classification": recipient_level},
	"rule": concat(".", ["marking_map.policies", recipient_policy]),
}]

# Review dates.
review_applies if input.caller.kind in data.ura_data.review_withheld_from

has_review if is_string(input.record.label.review)

review_overdue if day_end(input.record.label.review) < now_ns

deny contains reason("review_overdue", msg) if {
	input.action == "pull"
	registered
	review_applies
	has_review
	review_overdue
	msg := sprintf("%v was due for review on %v; it is withheld from %v members until its originator pushes a reviewed version", [rec(["id"]), rec(["label", "review"]), who("kind")])
}
