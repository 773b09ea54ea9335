# Screening: denials and consultations, excluded entities by a similar
# name, the consolidated sanctions list (screening.rego).
package ura_test

# An export licence of AIM's to Serbia, whose end user another state denied.
srb_licence := json.patch(licence, [
	{"op": "replace", "path": "/id", "value": "AIM-LIC-2026-000200"},
	{"op": "replace", "path": "/licence/destination", "value": "SRB"},
	{"op": "replace", "path": "/licence/end_user", "value": {"name": "Djordjevic Trading", "country": "SRB"}},
	{"op": "add", "path": "/licence/consignee", "value": {"name": "Balkan Logistics", "country": "SRB"}},
])

# The import authorisation and end-user certificate srb_licence names, for
# Serbia and its end user (conditions.rego), so that only screening decides.
srb_registers := json.patch(registers, [
	{"op": "replace", "path": "/import_authorisations/CZ-IA-2026-0001/AIM-IA-2026-0001/destination", "value": "SRB"},
	{"op": "replace", "path": "/end_user_certificates/AIM-EUC-2026-0001/AIM-EUC-2026-0001/end_user", "value": {"name": "Djordjevic Trading", "country": "SRB"}},
	{"op": "replace", "path": "/end_user_certificates/AIM-EUC-2026-0001/AIM-EUC-2026-0001/country", "value": "SRB"},
	{"op": "add", "path": "/transit_authorisations/AIM-LIC-2026-000200|HRV", "value": {"AIM-TA-2026-0001": object.union(
		registers.transit_authorisations["AIM-LIC-2026-000123|HRV"]["AIM-TA-2026-0001"],
		{"licence_id": "AIM-LIC-2026-000200"},
	)}},
])

# Italy's denial of 2026-06-10, as the denials register holds it.
it_denial := {
	"record_id": "IT-GOV-MOD-DEN-2026-0007",
	"originator": "IT/GOV/MOD",
	"denying_state": "ITA",
	"date": "2026-01-10",
	"criteria": [2, 7],
	"destination": "SRB",
	"ml_category": "ML1",
	"status": "active",
	"end_user": {"name": "Đorđević Trading d.o.o.", "country": "SRB"},
}

denial_match := {
	"denial": "IT-GOV-MOD-DEN-2026-0007",
	"key": "SRB|ML1",
	"party": "end_user",
	"denied_party": "end_user",
	"name": "Djordjevic Trading",
	"matched_name": "Đorđević Trading d.o.o.",
	"score": 1,
	"fields": ["name", "country"],
}

denial_regs(denial, match, consultations) := object.union(srb_registers, {
	"denials": {"SRB|ML1": {"IT-GOV-MOD-DEN-2026-0007": denial}},
	"consultations": consultations,
	"screening": {"denials": [match]},
})

consultation_entry(outcome, originator) := {"IT-GOV-MOD-DEN-2026-0007": {"AIM-CONS-2026-0001": {
	"record_id": "AIM-CONS-2026-0001",
	"originator": originator,
	"outcome": outcome,
}}}

test_denial_without_match_allowed if {
	allowed(decide_regs(aim, srb_licence, object.union(srb_registers, {"screening": {"denials": []}})))
}

test_denial_match_requires_consultation if {
	d := decide_regs(aim, srb_licence, denial_regs(it_denial, denial_match, {}))
	denied_with(d, "consultation_required")
	some r in d.reasons
	r.code == "consultation_required"
	contains(r.message, "IT-GOV-MOD-DEN-2026-0007")
	contains(r.message, "score 1")
	contains(r.message, "name, country")
}

test_consultation_proceed_unlocks if {
	allowed(decide_regs(aim, srb_licence, denial_regs(it_denial, denial_match, consultation_entry("proceed", "AL/GOV/AIM"))))
}

test_consultation_pending_does_not_unlock if {
	denied_with(decide_regs(aim, srb_licence, denial_regs(it_denial, denial_match, consultation_entry("pending", "AL/GOV/AIM"))), "consultation_required")
}

# Only this state's own consultation counts: another state's (relayed
# here) was not this state's decision.
test_foreign_consultation_does_not_unlock if {
	denied_with(decide_regs(aim, srb_licence, denial_regs(it_denial, denial_match, consultation_entry("proceed", "IT/GOV/MOD"))), "consultation_required")
}

test_revoked_denial_no_longer_matches if {
	revoked := object.union(it_denial, {"status": "revoked"})
	allowed(decide_regs(aim, srb_licence, denial_regs(revoked, denial_match, {})))
}

test_denial_expires_after_three_years if {
	old := object.union(it_denial, {"date": "2023-06-01"})
	allowed(decide_regs(aim, srb_licence, denial_regs(old, denial_match, {})))
	just := object.union(it_denial, {"date": "2023-06-02"})
	denied_with(decide_regs(aim, srb_licence, denial_regs(just, denial_match, {})), "consultation_required")
}

test_denial_explicit_expiry if {
	ended := object.union(it_denial, {"expires": "2026-06-01"})
	allowed(decide_regs(aim, srb_licence, denial_regs(ended, denial_match, {})))
	later := object.union(it_denial, {"expires": "2026-06-02"})
	denied_with(decide_regs(aim, srb_licence, denial_regs(later, denial_match, {})), "consultation_required")
}

test_future_denial_not_in_force if {
	future := object.union(it_denial, {"date": "2026-07-01"})
	allowed(decide_regs(aim, srb_licence, denial_regs(future, denial_match, {})))
}

# This state's own denials are not consulted about: it decides again.
test_own_denial_not_consulted if {
	own := object.union(it_denial, {"denying_state": "ALB", "originator": "AL/GOV/AIM"})
	allowed(decide_regs(aim, srb_licence, denial_regs(own, denial_match, {})))
}

test_denial_name_without_country_is_no_match if {
	m := object.union(denial_match, {"fields": ["name"]})
	allowed(decide_regs(aim, srb_licence, denial_regs(it_denial, m, {})))
}

test_denial_other_destination_or_category if {
	other_dest := object.union(it_denial, {"destination": "BIH"})
	allowed(decide_regs(aim, srb_licence, denial_regs(other_dest, denial_match, {})))
	other_cat := object.union(it_denial, {"ml_category": "ML4"})
	allowed(decide_regs(aim, srb_licence, denial_regs(other_cat, denial_match, {})))
}

test_consignee_match_requires_consultation if {
	m := object.union(denial_match, {"party": "consignee", "denied_party": "consignee", "name": "Balkan Logistics", "matched_name": "Balkan Logistics Group"})
	d := decide_regs(aim, srb_licence, denial_regs(it_denial, m, {}))
	denied_with(d, "consultation_required")
	some r in d.reasons
	contains(r.message, "the consignee Balkan Logistics matches the denied consignee Balkan Logistics Group")
}

# Revoking or suspending the licence is never held up.
test_revoked_licence_not_screened if {
	revoked := json.patch(srb_licence, [{"op": "replace", "path": "/licence/status", "value": "revoked"}])
	allowed(decide_regs(aim, revoked, denial_regs(it_denial, denial_match, {})))
}

# A production licence transfers nothing across a border.
test_production_licence_not_screened_for_denials if {
	prod := json.patch(srb_licence, [{"op": "replace", "path": "/licence/type", "value": "production"}])
	allowed(decide_regs(aim, prod, denial_regs(it_denial, denial_match, {})))
}

# A peer's licence relayed here is that state's to consult about.
test_relayed_licence_not_screened_for_denials if {
	rel := with_originator(srb_licence, "IT/GOV/MOD")
	allowed(decide_regs(itgw, rel, denial_regs(it_denial, denial_match, {})))
}

excluded_match := {
	"record_id": "AIM-EXC-2",
	"party": "end_user",
	"name": "Djordjevic Trading",
	"matched_name": "Ђорђевић Трејдинг",
	"score": 0.9,
	"fields": ["name", "country"],
	"from": "2025-01-01",
}

test_excluded_entity_match_denied if {
	d := decide_regs(aim, srb_licence, object.union(srb_registers, {"screening": {"excluded": [excluded_match]}}))
	denied_with(d, "excluded_entity_match")
	some r in d.reasons
	r.code == "excluded_entity_match"
	contains(r.message, "AIM-EXC-2")
	contains(r.message, "score 0.9")
}

# A peer relaying its state's licence learns that an entry matched, not
# which: the entry's name, record and score stay here.
test_excluded_entity_match_relayed_names_no_entry if {
	rel := with_originator(srb_licence, "IT/GOV/MOD")
	d := decide_regs(itgw, rel, object.union(srb_registers, {"screening": {"excluded": [excluded_match]}}))
	denied_with(d, "excluded_entity_match")
	some r in d.reasons
	r.code == "excluded_entity_match"
	contains(r.message, "Djordjevic Trading")
	not contains(r.message, "AIM-EXC-2")
	not contains(r.message, "Ђорђевић")
	not contains(r.message, "0.9")

	# Another entry, another record and score: the same answer.
	other := object.union(excluded_match, {"record_id": "AIM-EXC-9", "matched_name": "Djordjević Trading d.o.o.", "score": 0.83})
	d2 := decide_regs(itgw, rel, object.union(srb_registers, {"screening": {"excluded": [other]}}))
	d2.reasons == d.reasons
}

test_excluded_entity_match_not_in_force if {
	ended := object.union(excluded_match, {"until": "2026-06-01"})
	allowed(decide_regs(aim, srb_licence, object.union(srb_registers, {"screening": {"excluded": [ended]}})))
}

# A party the exact rule refuses is not refused twice.
test_excluded_entity_match_after_exact if {
	m := object.union(excluded_match, {"party": "holder", "record_id": "AIM-EXC-1"})
	d := decide_regs(aim, excluded_holder, object.union(registers, {"screening": {"excluded": [m]}}))
	denied_with(d, "excluded_entity")
	not "excluded_entity_match" in codes(d)
}

sanctions_match := {
	"dataid": "6908555",
	"reference": "QDe.999",
	"party": "consignee",
	"name": "Balkan Logistics",
	"matched_name": "BALKAN LOGISTICS GROUP",
	"listed_on": "2020-03-01",
	"score": 0.86,
	"fields": ["name"],
}

test_sanctions_match_denied if {
	d := decide_regs(aim, srb_licence, object.union(srb_registers, {"screening": {"sanctions": [sanctions_match]}}))
	denied_with(d, "sanctions_match")
	some r in d.reasons
	r.code == "sanctions_match"
	contains(r.message, "DATAID 6908555, reference QDe.999")
	contains(r.message, "the consignee Balkan Logistics")
}

test_sanctions_match_without_reference if {
	m := object.remove(sanctions_match, ["reference"])
	d := decide_regs(aim, srb_licence, object.union(srb_registers, {"screening": {"sanctions": [m]}}))
	some r in d.reasons
	contains(r.message, "reference (none)")
}

test_suspended_licence_not_screened_for_sanctions if {
	s := json.patch(srb_licence, [{"op": "replace", "path": "/licence/status", "value": "suspended"}])
	allowed(decide_regs(aim, s, object.union(srb_registers, {"screening": {"sanctions": [sanctions_match]}})))
}

al_denial := {
	"kind": "denial",
	"id": "AIM-DEN-2026-0001",
	"version": 1,
	"label": label("RESTRICTED", ["EU", "ALB"], "AL/GOV/AIM"),
	"denial": {
		"denying_state": "ALB",
		"date": "2026-05-20",
		"criteria": [7],
		"destination": "SRB",
		"end_user": {"name": "Djordjevic Trading", "country": "SRB"},
		"goods": [{"ml_category": "ML3", "description": "cartridges"}],
		"reasons": "risk of diversion",
		"status": "active",
	},
}

al_consultation := {
	"kind": "consultation",
	"id": "AIM-CONS-2026-0001",
	"version": 1,
	"label": label("RESTRICTED", ["ALB", "ITA"], "AL/GOV/AIM"),
	"consultation": {
		"denial_id": "IT-GOV-MOD-DEN-2026-0007",
		"consulting_state": "ALB",
		"denying_state": "ITA",
		"request": {"date": "2026-06-01", "text": "please share the grounds"},
		"outcome": "pending",
	},
}

test_agency_pushes_denial_and_consultation if {
	allowed(decide(aim, "push", al_denial))
	allowed(decide(aim, "push", al_consultation))
}

test_customs_does_not_push_denials if {
	denied_with(decide(dpd, "push", with_originator(al_denial, "AL/GOV/DPD")), "push_not_authorised")
}

test_denial_of_another_state_by_own_agency if {
	wrong := json.patch(al_denial, [{"op": "replace", "path": "/denial/denying_state", "value": "ITA"}])
	denied_with(decide(aim, "push", wrong), "denial_state_mismatch")
	wrong_c := json.patch(al_consultation, [{"op": "replace", "path": "/consultation/consulting_state", "value": "ITA"}])
	denied_with(decide(aim, "push", wrong_c), "denial_state_mismatch")
}

it_denial_record := json.patch(al_denial, [
	{"op": "replace", "path": "/id", "value": "IT-GOV-MOD-DEN-2026-0007"},
	{"op": "replace", "path": "/label/originator", "value": "IT/GOV/MOD"},
	{"op": "replace", "path": "/denial/denying_state", "value": "ITA"},
])

test_peer_relays_its_denial if {
	allowed(decide(itgw, "push", it_denial_record))
}

# Releasable to the EU group: a member state's partner and gateway receive
# it; a state outside the EU and the label does not.
test_denial_released_to_eu_members if {
	allowed(decide(itgw, "pull", al_denial))
	allowed(decide(cze, "pull", al_denial))
	denied_with(decide(partner_of("USA", "US/GOV/DOS"), "pull", al_denial), "not_releasable")
	denied_with(decide(partner_of("MKD", "MK/GOV/MOD"), "pull", al_denial), "not_releasable")
	named := json.patch(al_denial, [{"op": "replace", "path": "/label/releasable_to", "value": ["EU", "ALB", "MKD"]}])
	allowed(decide(partner_of("MKD", "MK/GOV/MOD"), "pull", named))
}

test_customs_does_not_pull_denials if {
	denied_with(decide(dpd, "pull", al_denial), "pull_not_permitted")
	denied_with(decide(dpd, "pull", al_consultation), "pull_not_permitted")
}
