package ura_test

# Excluded entities named in a push.

excluded_holder := json.patch(licence, [{"op": "replace", "path": "/licence/holder", "value": {"entity_id": "K99999999Z", "name": "Shadow Arms sh.p.k."}}])

test_clean_parties_allowed if allowed(decide(aim, "push", licence))

test_excluded_holder_by_id_denied if {
	renamed := json.patch(excluded_holder, [{"op": "replace", "path": "/licence/holder/name", "value": "New Name sh.a."}])
	denied_with(decide(aim, "push", renamed), "excluded_entity")
}

test_excluded_holder_by_name_denied if {
	other_id := json.patch(excluded_holder, [{"op": "replace", "path": "/licence/holder", "value": {"entity_id": "L11111111B", "name": "SHADOW ARMS Sh. P. K."}}])
	denied_with(decide(aim, "push", other_id), "excluded_entity")
}

test_excluded_end_user_denied if {
	eu := json.patch(licence, [{"op": "replace", "path": "/licence/end_user/name", "value": "shadow-arms  sh.p.k"}])
	denied_with(decide(aim, "push", eu), "excluded_entity")
}

test_excluded_by_registered_entity_name if {
	regs := json.patch(registers, [
		{"op": "add", "path": "/entities/L22222222C", "value": {"name": "Shadow Arms shpk", "status": "active"}},
		{"op": "add", "path": "/excluded/by_name/shadow arms shpk", "value": {"X": {"from": "2025-01-01"}}},
	])
	holder := json.patch(licence, [{"op": "replace", "path": "/licence/holder", "value": {"entity_id": "L22222222C", "name": "SA"}}])
	denied_with(decide_regs(aim, holder, regs), "excluded_entity")
}

test_exclusion_ended_allowed if {
	regs := json.patch(registers, [
		{"op": "add", "path": "/excluded/by_id/K99999999Z/AIM-EXC-1/until", "value": "2026-06-01"},
		{"op": "add", "path": "/excluded/by_name/shadow arms sh p k/AIM-EXC-1/until", "value": "2026-06-01"},
	])
	allowed(decide_regs(aim, excluded_holder, regs))
}

test_exclusion_not_started_allowed if {
	regs := json.patch(registers, [
		{"op": "replace", "path": "/excluded/by_id/K99999999Z/AIM-EXC-1/from", "value": "2026-12-01"},
		{"op": "replace", "path": "/excluded/by_name/shadow arms sh p k/AIM-EXC-1/from", "value": "2026-12-01"},
	])
	allowed(decide_regs(aim, excluded_holder, regs))
}

test_exclusion_on_last_day_in_force if {
	regs := json.patch(registers, [
		{"op": "add", "path": "/excluded/by_id/K99999999Z/AIM-EXC-1/until", "value": "2026-06-02"},
	])
	denied_with(decide_regs(aim, excluded_holder, regs), "excluded_entity")
}

test_end_user_certificate_excluded_end_user_denied if {
	euc := {"kind": "end_user_certificate", "id": "MOD-EUC-1", "version": 1, "label": label("RESTRICTED", ["ALB"], "AL/GOV/MOD"), "end_user_certificate": {"end_user": {"name": "Shadow Arms sh.p.k.", "country": "ALB"}}}
	denied_with(decide(mod, "push", euc), "excluded_entity")
}

# EXPORT_DECLARED against the register of licences.

test_export_within_licence_allowed if allowed(decide(dpd, "push", export_event))

test_export_unknown_licence_denied if {
	unknown := json.patch(export_event, [{"op": "replace", "path": "/event/licence_id", "value": "AIM-LIC-2026-999999"}])
	d := decide(dpd, "push", unknown)
	denied_with(d, "licence_unknown")
	count(d.reasons) == 1
}

test_export_without_licence_denied if {
	d := decide(dpd, "push", json.remove(export_event, ["event/licence_id"]))
	denied_with(d, "licence_unknown")
}

test_export_suspended_licence_denied if {
	d := decide_regs(dpd, export_event, registers_with_licence({"status": "suspended"}))
	denied_with(d, "licence_suspended")
}

test_export_revoked_licence_denied if {
	denied_with(decide_regs(dpd, export_event, registers_with_licence({"status": "revoked"})), "licence_revoked")
}

test_export_expired_status_denied if {
	denied_with(decide_regs(dpd, export_event, registers_with_licence({"status": "expired"})), "licence_expired")
}

test_export_renewed_licence_allowed if {
	allowed(decide_regs(dpd, export_event, registers_with_licence({"status": "renewed"})))
}

test_export_expired_by_date_denied if {
	d := decide_regs(dpd, export_event, registers_with_licence({"valid_until": "2026-06-01"}))
	denied_with(d, "licence_expired")
	allowed(decide_regs(dpd, export_event, registers_with_licence({"valid_until": "2026-06-02"})))
}

test_export_licence_without_dates_denied if {
	regs := json.patch(registers, [{"op": "remove", "path": "/licences/AIM-LIC-2026-000123/valid_until"}])
	denied_with(decide_regs(dpd, export_event, regs), "licence_expired")
}

test_export_before_validity_denied if {
	denied_with(decide_regs(dpd, export_event, registers_with_licence({"valid_from": "2026-06-03"})), "licence_not_yet_valid")
}

test_export_unexpected_status_denied if {
	denied_with(decide_regs(dpd, export_event, registers_with_licence({"status": "draft"})), "licence_not_in_force")
}

test_export_against_import_licence_denied if {
	denied_with(decide_regs(dpd, export_event, registers_with_licence({"type": "import"})), "licence_type_mismatch")
}

test_export_other_destination_denied if {
	to_srb := json.patch(export_event, [{"op": "replace", "path": "/event/to", "value": "SRB"}])
	d := decide(dpd, "push", to_srb)
	denied_with(d, "licence_destination_mismatch")

	# The rifles' import authorisation is Czechia's, not Serbia's.
	codes(d) == {"licence_destination_mismatch", "import_authorisation_invalid"}
}

test_export_category_not_licensed_denied if {
	ml4 := json.patch(export_event, [{"op": "replace", "path": "/event/item/ml_category", "value": "ML4"}])
	denied_with(decide(dpd, "push", ml4), "licence_category_not_covered")
}

test_export_up_to_licensed_quantity_allowed if {
	exact := json.patch(export_event, [{"op": "replace", "path": "/event/quantity", "value": 200}])
	allowed(decide(dpd, "push", exact))
}

test_export_over_licensed_quantity_denied if {
	over := json.patch(export_event, [{"op": "replace", "path": "/event/quantity", "value": 201}])
	d := decide(dpd, "push", over)
	denied_with(d, "licence_quantity_exceeded")
	some r in d.reasons
	contains(r.message, "300 already exported")
}

test_export_without_quantity_counts_one if {
	regs := json.patch(registers, [{"op": "replace", "path": "/exported/AIM-LIC-2026-000123/ML1", "value": 499}])
	single := json.remove(export_event, ["event/quantity"])
	allowed(decide_regs(dpd, single, regs))
	full := json.patch(registers, [{"op": "replace", "path": "/exported/AIM-LIC-2026-000123/ML1", "value": 500}])
	denied_with(decide_regs(dpd, single, full), "licence_quantity_exceeded")
}

test_export_first_against_licence_allowed if {
	regs := json.remove(registers, ["exported/AIM-LIC-2026-000123"])
	all500 := json.patch(export_event, [{"op": "replace", "path": "/event/quantity", "value": 500}])
	allowed(decide_regs(dpd, all500, regs))
}

test_export_correction_replaces_its_quantity if {
	# 300 exported includes this declaration's first version (100).
	v2 := json.patch(export_event, [{"op": "replace", "path": "/version", "value": 2}, {"op": "replace", "path": "/event/quantity", "value": 300}])
	allowed(decide_prev(dpd, v2, export_event))
	too_much := json.patch(v2, [{"op": "replace", "path": "/event/quantity", "value": 301}])
	denied_with(decide_prev(dpd, too_much, export_event), "licence_quantity_exceeded")
}

test_export_holder_excluded_after_issue_denied if {
	regs := registers_with_licence({"holder": {"entity_id": "K99999999Z", "name": "Shadow Arms sh.p.k."}})
	denied_with(decide_regs(dpd, export_event, regs), "excluded_entity")
}

test_export_without_destination_denied if {
	d := decide(dpd, "push", json.remove(export_event, ["event/to"]))
	denied_with(d, "licence_destination_mismatch")
}

test_export_without_category_denied if {
	d := decide(dpd, "push", json.remove(export_event, ["event/item/ml_category"]))
	denied_with(d, "licence_category_not_covered")
}

test_export_with_empty_registers_denied if {
	d := decide_regs(dpd, export_event, {})
	denied_with(d, "licence_unknown")
}

test_export_without_exported_register_counts_zero if {
	regs := json.remove(registers, ["exported"])
	allowed(decide_regs(dpd, export_event, regs))
	over := json.patch(export_event, [{"op": "replace", "path": "/event/quantity", "value": 501}])
	denied_with(decide_regs(dpd, over, regs), "licence_quantity_exceeded")
}

test_export_checks_only_on_export_declared if {
	exit := json.patch(export_event, [{"op": "replace", "path": "/event/type", "value": "EXIT_CONFIRMED"}, {"op": "replace", "path": "/event/licence_id", "value": "NOPE"}])
	d := decide(dpd, "push", exit)
	d.allow
	count({c | some c in codes(d); startswith(c, "licence_")}) == 0
}

test_export_licence_without_status_or_type_denied if {
	regs := json.patch(registers, [
		{"op": "remove", "path": "/licences/AIM-LIC-2026-000123/status"},
		{"op": "remove", "path": "/licences/AIM-LIC-2026-000123/type"},
	])
	d := decide_regs(dpd, export_event, regs)
	denied_with(d, "licence_not_in_force")
	denied_with(d, "licence_type_mismatch")
}

test_excluded_holder_named_only_by_id_denied if {
	by_id := json.patch(licence, [{"op": "replace", "path": "/licence/holder", "value": {"entity_id": "K99999999Z"}}])
	d := decide(aim, "push", by_id)
	denied_with(d, "excluded_entity")
	some r in d.reasons
	contains(r.message, "K99999999Z")
}

# A licence relayed from a peer licenses no export from here.
test_export_against_foreign_licence_denied if {
	d := decide_regs(dpd, export_event, registers_with_licence({"originator": "IT/GOV/MOD"}))
	denied_with(d, "licence_not_national")
	count(d.reasons) == 1
}

test_export_against_licence_of_unknown_origin_denied if {
	regs := json.patch(registers, [{"op": "remove", "path": "/licences/AIM-LIC-2026-000123/originator"}])
	denied_with(decide_regs(dpd, export_event, regs), "licence_not_national")
}
