# Screening of a licence's parties: denials notified by other states,
# excluded entities and the consolidated sanctions list
# (gateway/ARCHITECTURE.md, "Name matching" and "Denials and consultations").
#
# Names are matched in Go, not here: the fuzzy matcher (gateway/names) has
# no Rego counterpart, and the external OPA server of policy.mode http must
# decide on the same input. While it builds the input of a pushed licence,
# the gateway puts into input.registers.screening the candidates whose name
# scored at least names.Threshold, each with its score and the fields that
# matched ("name", and "country" when the countries agree):
#
#   denials    [{denial, key, party, denied_party, name, matched_name, score, fields}]
#              against input.registers.denials[key][denial], the denials
#              of the licence's destination and ML categories;
#   excluded   [{record_id, party, name, matched_name, entity_id, score,
#              fields, from, until?}], the register of excluded entities;
#   sanctions  [{dataid, reference, party, name, matched_name, listed_on,
#              score, fields}], the consolidated list of
#              screening.sanctions_file.
#
# The rules below decide on them; they screen a licence in force only (a
# licence is suspended or revoked whoever its parties are).
package ura

screened_licence if {
	input.action == "push"
	input.record.kind == "licence"
	input.record.licence.status in data.ura_data.licence.valid_statuses
}

# Which licence field holds a screened party.
party_of(role) := object.get(input.record.licence, role, {})

party_role_text := {"holder": "holder", "end_user": "end user", "consignee": "consignee"}

match_fields(m) := concat(", ", [f | some f in m.fields])

# Denials (Common Position 2008/944/CFSP art. 4(1)). A licence of this
# state for an essentially identical transaction to one another state denied
# within the last three years waits for a consultation of that state:
# same destination and ML category (the register key), and the same end user
# or consignee, matched on name and country.
denial_screened if {
	screened_licence
	input.record.licence.type in data.ura_data.denials.licence_types
	originator_in_own_instance
}

# The three rules below also test, in their own bodies, the action and the
# kind that screened_licence asks: those equalities are what OPA's rule
# index keys on, so that no other record evaluates the rules at all.
deny contains reason("consultation_required", msg) if {
	input.action == "push"
	input.record.kind == "licence"
	registered

	# The candidates first: a licence with none, most of them, is done
	# before the rules that tell whether it is screened are asked.
	some m in input.registers.screening.denials
	denial_screened
	d := input.registers.denials[m.key][m.denial]
	denial_undercut(m, d)
	not consulted(m.denial)
	msg := sprintf("an essentially identical transaction was denied by %v on %v (denial %v, criteria %v): the %s %v matches the denied %s %v (score %v; matched on %s); consult %v first (Common Position 2008/944/CFSP art. 4(1))", [
		object.get(d, "denying_state", "(unknown)"), object.get(d, "date", "(no date)"), m.denial,
		concat(", ", [sprintf("%v", [c]) | some c in object.get(d, "criteria", [])]),
		party_role_text[m.party], m.name, party_role_text[m.denied_party], m.matched_name,
		m.score, match_fields(m), object.get(d, "denying_state", "(unknown)"),
	])
}

# The denial counts: active, by another state, not expired, for this
# licence's destination and one of its categories, its party matched on
# both name and country.
denial_undercut(m, d) if {
	d.status == "active"
	d.denying_state != data.ura_data.own_nation
	denial_in_force(d)
	d.destination == input.record.licence.destination
	some item in input.record.licence.items
	item.ml_category == d.ml_category
	"name" in m.fields
	"country" in m.fields
}

# A denial counts from its date to its explicit expiry, or for
# data.ura_data.denials.years after its date.
denial_in_force(d) if {
	time.now_ns() >= day_start(d.date)
	time.now_ns() <= denial_end(d)
}

denial_end(d) := day_end(d.expires) if {
	is_string(d.expires)
} else := time.add_date(day_end(d.date), data.ura_data.denials.years, 0, 0)

# A consultation of the denying state by an institution of this gateway's
# own instance, whose outcome lets the transaction proceed.
consulted(denial_id) if {
	some c in input.registers.consultations[denial_id]
	c.outcome in data.ura_data.denials.unlocking_outcomes
	instance_of(c.originator) == data.ura_data.own_instance
}

# The register of excluded entities, by a similar name: what the exact
# rule (excluded_entity, licence.rego) misses, a spelling, a script or a
# transliteration away.
deny contains reason("excluded_entity_match", msg) if {
	input.action == "push"
	input.record.kind == "licence"
	registered
	some m in input.registers.screening.excluded
	screened_licence
	exclusion_in_force(m)
	not excluded(party_of(m.party))
	msg := excluded_match_text(m)
}

# An institution of this gateway's own instance is told which entry its
# party matched. A peer gateway relaying its state's licence may never pull
# the register of excluded entities: it is told that an entry matched, in
# its own party's name, but not the entry's name, record or score, which
# would otherwise cross the border with the refusal.
excluded_match_text(m) := sprintf("the %s %v matches %v on the register of excluded entities (record %v; score %v; matched on %s)", [
	party_role_text[m.party], m.name, m.matched_name, m.record_id, m.score, match_fields(m),
]) if {
	instance_of(input.caller.member) == data.ura_data.own_instance
} else := sprintf("the %s %v matches an entry of the register of excluded entities of %v", [
	party_role_text[m.party], m.name, data.ura_data.own_instance,
])

# The consolidated sanctions list (UN Security Council).
deny contains reason("sanctions_match", msg) if {
	input.action == "push"
	input.record.kind == "licence"
	registered
	some m in input.registers.screening.sanctions
	screened_licence
	msg := sprintf("the %s %v matches %v on the consolidated sanctions list (DATAID %v, reference %v; score %v; matched on %s)", [
		party_role_text[m.party], m.name, m.matched_name, m.dataid, object.get(m, "reference", "(none)"), m.score, match_fields(m),
	])
}

# An institution of this gateway's instance notifies its own state's
# denials, and consults as its own state: the state a notification or a
# consultation names is what other states rely on.
deny contains reason("denial_state_mismatch", msg) if {
	input.action == "push"
	registered
	input.record.kind == "denial"
	originator_in_own_instance
	input.record.denial.denying_state != data.ura_data.own_nation
	msg := sprintf("%v names %v as the denying state; an institution of %v notifies the denials of %v", [
		rec(["id"]), rec(["denial", "denying_state"]), data.ura_data.own_instance, data.ura_data.own_nation,
	])
}

deny contains reason("denial_state_mismatch", msg) if {
	input.action == "push"
	registered
	input.record.kind == "consultation"
	originator_in_own_instance
	input.record.consultation.consulting_state != data.ura_data.own_nation
	msg := sprintf("%v names %v as the consulting state; an institution of %v consults for %v", [
		rec(["id"]), rec(["consultation", "consulting_state"]), data.ura_data.own_instance, data.ura_data.own_nation,
	])
}
