package ura_test

# Licence conditions for small arms and light weapons: import and transit
# authorisations (UN Firearms Protocol art. 10(2); ATT art. 8, 9) and the
# end-user certificate, at issue and at each export declared under it.

with_regs(patches) := json.patch(registers, patches)

licence_with(patches) := json.patch(licence, patches)

condition_codes := {
	"import_authorisation_missing", "import_authorisation_invalid", "transit_authorisation_missing",
	"transit_not_licensed", "euc_missing", "euc_revoked", "euc_end_user_mismatch", "euc_goods_not_covered",
	"euc_not_valid", "euc_reexport_clause_missing",
}

# Allowed: the fixture licence (ML1 rifles and ML3 cartridges to CZE
# through HRV) names an import authorisation, a transit non-objection and a
# certificate that fit.
test_salw_licence_with_its_authorisations_allowed if allowed(decide(aim, "push", licence))

# A licence of no SALW needs no transfer authorisation, but its category
# may still call for a certificate (here none does).
test_ammunition_licence_needs_no_authorisation if {
	ml3 := licence_with([
		{"op": "replace", "path": "/licence/items", "value": [licence.licence.items[0]]},
		{"op": "remove", "path": "/licence/import_authorisation"},
		{"op": "remove", "path": "/licence/end_user_certificate_id"},
	])
	allowed(decide_regs(aim, ml3, {}))
}

test_salw_categories_are_ml1_and_ml2 if {
	data.ura_data.conditions.salw.categories == ["ML1", "ML2"]
	count(data.ura_data.conditions.salw.source) > 0
	count(data.ura_data.conditions.import_authorisation.source) > 0
	count(data.ura_data.conditions.end_user_certificate.source) > 0
}

# Import authorisation.

test_import_authorisation_missing if {
	d := decide(aim, "push", licence_with([{"op": "remove", "path": "/licence/import_authorisation"}]))
	denied_with(d, "import_authorisation_missing")
	d2 := decide_regs(aim, licence, with_regs([{"op": "remove", "path": "/import_authorisations"}]))
	denied_with(d2, "import_authorisation_missing")
	codes(d2) & condition_codes == {"import_authorisation_missing"}
}

test_import_authorisation_expired if {
	regs := with_regs([{"op": "replace", "path": "/import_authorisations/CZ-IA-2026-0001/AIM-IA-2026-0001/valid_until", "value": "2026-06-01"}])
	d := decide_regs(aim, licence, regs)
	denied_with(d, "import_authorisation_invalid")
	some r in d.reasons
	r.code == "import_authorisation_invalid"
	contains(r.message, "not in force today")
}

test_import_authorisation_wrong_destination if {
	regs := with_regs([{"op": "replace", "path": "/import_authorisations/CZ-IA-2026-0001/AIM-IA-2026-0001/destination", "value": "SRB"}])
	denied_with(decide_regs(aim, licence, regs), "import_authorisation_invalid")
}

test_import_authorisation_too_few_goods if {
	regs := with_regs([{"op": "replace", "path": "/import_authorisations/CZ-IA-2026-0001/AIM-IA-2026-0001/items", "value": {"ML1": 499}}])
	denied_with(decide_regs(aim, licence, regs), "import_authorisation_invalid")
	regs2 := with_regs([{"op": "replace", "path": "/import_authorisations/CZ-IA-2026-0001/AIM-IA-2026-0001/items", "value": {"ML2": 500}}])
	denied_with(decide_regs(aim, licence, regs2), "import_authorisation_invalid")
}

# Of two states' authorisations under one reference, the one that fits counts.
test_import_authorisation_one_of_several_fits if {
	regs := with_regs([{"op": "add", "path": "/import_authorisations/CZ-IA-2026-0001/OTHER", "value": object.union(import_authorisation_register, {"destination": "SRB"})}])
	allowed(decide_regs(aim, licence, regs))
}

test_import_authorisation_required_only_where_listed if {
	d := data.ura.decision with input as {"caller": aim, "action": "push", "record": licence_with([{"op": "remove", "path": "/licence/import_authorisation"}]), "previous": null}
		with input.registers as registers
		with time.now_ns as now
		with data.ura_data.conditions.import_authorisation.destinations as ["SRB"]
	allowed(d)
	d2 := data.ura.decision with input as {"caller": aim, "action": "push", "record": licence_with([{"op": "remove", "path": "/licence/import_authorisation"}]), "previous": null}
		with input.registers as registers
		with time.now_ns as now
		with data.ura_data.conditions.import_authorisation.destinations as ["CZE"]
	denied_with(d2, "import_authorisation_missing")
}

# Transit.

test_transit_authorisation_missing if {
	via_mne := licence_with([{"op": "replace", "path": "/licence/transit", "value": ["HRV", "MNE"]}])
	d := decide(aim, "push", via_mne)
	denied_with(d, "transit_authorisation_missing")
	some r in d.reasons
	contains(r.message, "MNE")
}

test_transit_authorisation_expired if {
	regs := with_regs([{"op": "replace", "path": "/transit_authorisations/AIM-LIC-2026-000123|HRV/AIM-TA-2026-0001/valid_until", "value": "2026-05-31"}])
	denied_with(decide_regs(aim, licence, regs), "transit_authorisation_missing")
}

test_transit_authorisation_for_another_state_does_not_count if {
	regs := with_regs([{"op": "replace", "path": "/transit_authorisations/AIM-LIC-2026-000123|HRV/AIM-TA-2026-0001/transit_state", "value": "MNE"}])
	denied_with(decide_regs(aim, licence, regs), "transit_authorisation_missing")
}

test_no_transit_needs_no_authorisation if {
	direct := licence_with([{"op": "remove", "path": "/licence/transit"}])
	allowed(decide_regs(aim, direct, with_regs([{"op": "remove", "path": "/transit_authorisations"}])))
}

# The conditions hold a licence at issue, not when it is suspended, and not
# a peer's licence relayed here.
test_suspension_is_never_held_back if {
	suspended := licence_with([{"op": "replace", "path": "/licence/status", "value": "suspended"}])
	allowed(decide_regs(aim, suspended, {}))
}

test_relayed_licence_not_conditioned_here if {
	it := with_originator(licence, "IT/GOV/MOD")
	d := decide_regs(itgw, it, {})
	count(codes(d) & condition_codes) == 0
}

# End-user certificate.

test_euc_missing if {
	d := decide(aim, "push", licence_with([{"op": "remove", "path": "/licence/end_user_certificate_id"}]))
	denied_with(d, "euc_missing")
	denied_with(decide_regs(aim, licence, with_regs([{"op": "remove", "path": "/end_user_certificates"}])), "euc_missing")
}

test_euc_end_user_mismatch if {
	other := licence_with([{"op": "replace", "path": "/licence/end_user/name", "value": "Arms Depot Ltd"}])
	denied_with(decide(aim, "push", other), "euc_end_user_mismatch")
	other_country := licence_with([{"op": "replace", "path": "/licence/end_user/country", "value": "SVK"}])
	denied_with(decide(aim, "push", other_country), "euc_end_user_mismatch")
}

# Names are compared normalised; entity ids, when both carry one, decide.
test_euc_end_user_matched_by_normalised_name_or_id if {
	spelled := licence_with([{"op": "replace", "path": "/licence/end_user/name", "value": "MINISTRY OF DEFENCE."}])
	allowed(decide(aim, "push", spelled))
	by_id := licence_with([{"op": "add", "path": "/licence/end_user/entity_id", "value": "CZ-00000001"}])
	regs := with_regs([{"op": "add", "path": "/end_user_certificates/AIM-EUC-2026-0001/AIM-EUC-2026-0001/end_user/entity_id", "value": "CZ-00000001"}])
	allowed(decide_regs(aim, by_id, regs))
	regs2 := with_regs([{"op": "add", "path": "/end_user_certificates/AIM-EUC-2026-0001/AIM-EUC-2026-0001/end_user/entity_id", "value": "CZ-00000002"}])
	denied_with(decide_regs(aim, by_id, regs2), "euc_end_user_mismatch")
}

test_euc_goods_not_covered if {
	more := licence_with([{"op": "replace", "path": "/licence/items/1/quantity", "value": 501}])
	regs := with_regs([{"op": "replace", "path": "/import_authorisations/CZ-IA-2026-0001/AIM-IA-2026-0001/items/ML1", "value": 501}])
	d := decide_regs(aim, more, regs)
	denied_with(d, "euc_goods_not_covered")
	codes(d) & condition_codes == {"euc_goods_not_covered"}
}

test_euc_not_valid_over_the_licence if {
	late := with_regs([{"op": "replace", "path": "/end_user_certificates/AIM-EUC-2026-0001/AIM-EUC-2026-0001/issued_on", "value": "2026-05-02"}])
	denied_with(decide_regs(aim, licence, late), "euc_not_valid")
	short := with_regs([{"op": "replace", "path": "/end_user_certificates/AIM-EUC-2026-0001/AIM-EUC-2026-0001/valid_until", "value": "2027-04-29"}])
	denied_with(decide_regs(aim, licence, short), "euc_not_valid")
}

test_euc_reexport_clause_missing if {
	regs := with_regs([{"op": "replace", "path": "/end_user_certificates/AIM-EUC-2026-0001/AIM-EUC-2026-0001/reexport_clause", "value": false}])
	denied_with(decide_regs(aim, licence, regs), "euc_reexport_clause_missing")
}

test_euc_revoked_before_issue if {
	regs := with_regs([{"op": "replace", "path": "/end_user_certificates/AIM-EUC-2026-0001/AIM-EUC-2026-0001/status", "value": "revoked"}])
	denied_with(decide_regs(aim, licence, regs), "euc_revoked")
}

test_euc_required_per_table if {
	ml3 := licence_with([
		{"op": "replace", "path": "/licence/items", "value": [licence.licence.items[0]]},
		{"op": "remove", "path": "/licence/end_user_certificate_id"},
	])
	d := data.ura.decision with input as {"caller": aim, "action": "push", "record": ml3, "previous": null}
		with input.registers as registers
		with time.now_ns as now
		with data.ura_data.conditions.end_user_certificate.categories as ["ML1", "ML2", "ML3"]
	denied_with(d, "euc_missing")
}

# Export declarations under the licence.

test_declaration_within_conditions_allowed if allowed(decide(dpd, "push", export_event))

test_declaration_through_listed_transit_allowed if {
	allowed(decide(dpd, "push", json.patch(export_event, [{"op": "add", "path": "/event/transit", "value": ["HRV"]}])))
}

test_declaration_through_unlisted_transit_denied if {
	d := decide(dpd, "push", json.patch(export_event, [{"op": "add", "path": "/event/transit", "value": ["HRV", "SRB"]}]))
	denied_with(d, "transit_not_licensed")
	count(d.reasons) == 1
	some r in d.reasons
	contains(r.message, "SRB")
}

# The transit state's non-objection is held to the declaration's date.
transit_event := json.patch(export_event, [{"op": "add", "path": "/event/transit", "value": ["HRV"]}])

test_declaration_transit_non_objection_expired_denied if {
	regs := with_regs([{"op": "replace", "path": "/transit_authorisations/AIM-LIC-2026-000123|HRV/AIM-TA-2026-0001/valid_until", "value": "2026-05-31"}])
	d := decide_regs(dpd, transit_event, regs)
	denied_with(d, "transit_authorisation_missing")
	some r in d.reasons
	contains(r.message, "HRV")
}

test_declaration_transit_non_objection_missing_denied if {
	d := decide_regs(dpd, transit_event, with_regs([{"op": "remove", "path": "/transit_authorisations"}]))
	denied_with(d, "transit_authorisation_missing")
}

test_declaration_transit_non_objection_of_another_licence_does_not_count if {
	regs := with_regs([{"op": "replace", "path": "/transit_authorisations/AIM-LIC-2026-000123|HRV/AIM-TA-2026-0001/licence_id", "value": "AIM-LIC-2026-000999"}])
	denied_with(decide_regs(dpd, transit_event, regs), "transit_authorisation_missing")
}

test_declaration_without_transit_needs_no_non_objection if {
	allowed(decide_regs(dpd, export_event, with_regs([{"op": "remove", "path": "/transit_authorisations"}])))
}

test_declaration_of_ammunition_needs_no_non_objection if {
	ml3 := json.patch(transit_event, [{"op": "replace", "path": "/event/item/ml_category", "value": "ML3"}])
	not "transit_authorisation_missing" in codes(decide_regs(dpd, ml3, with_regs([{"op": "remove", "path": "/transit_authorisations"}])))
}

test_declaration_transit_without_conditions_register_denied if {
	d := decide_regs(dpd, json.patch(export_event, [{"op": "add", "path": "/event/transit", "value": ["HRV"]}]), with_regs([{"op": "remove", "path": "/licence_conditions"}]))
	denied_with(d, "transit_not_licensed")
}

test_declaration_outside_import_authorisation_validity_denied if {
	early := json.patch(export_event, [{"op": "replace", "path": "/event/at", "value": "2026-03-31T23:00:00Z"}])
	d := decide(dpd, "push", early)
	denied_with(d, "import_authorisation_invalid")
	some r in d.reasons
	contains(r.message, "2026-03-31")
}

test_declaration_beyond_import_authorisation_quantity_denied if {
	regs := with_regs([{"op": "replace", "path": "/import_authorisations/CZ-IA-2026-0001/AIM-IA-2026-0001/items/ML1", "value": 350}])
	d := decide_regs(dpd, export_event, regs)
	denied_with(d, "import_authorisation_invalid")
	not "licence_quantity_exceeded" in codes(d)
	allowed(decide_regs(dpd, json.patch(export_event, [{"op": "replace", "path": "/event/quantity", "value": 50}]), regs))
}

test_declaration_goods_outside_import_authorisation_denied if {
	regs := with_regs([{"op": "replace", "path": "/import_authorisations/CZ-IA-2026-0001/AIM-IA-2026-0001/items", "value": {"ML2": 500}}])
	denied_with(decide_regs(dpd, export_event, regs), "import_authorisation_invalid")
}

test_declaration_without_import_authorisation_denied if {
	regs := with_regs([{"op": "remove", "path": "/licence_conditions/AIM-LIC-2026-000123/AIM-LIC-2026-000123/import_authorisation"}])
	denied_with(decide_regs(dpd, export_event, regs), "import_authorisation_missing")
}

test_ammunition_declaration_needs_no_import_authorisation if {
	ml3 := json.patch(export_event, [{"op": "replace", "path": "/event/item/ml_category", "value": "ML3"}])
	regs := with_regs([{"op": "remove", "path": "/import_authorisations"}, {"op": "remove", "path": "/end_user_certificates"}])
	allowed(decide_regs(dpd, ml3, regs))
}

test_declaration_under_revoked_certificate_on_hold if {
	regs := with_regs([{"op": "replace", "path": "/end_user_certificates/AIM-EUC-2026-0001/AIM-EUC-2026-0001/status", "value": "revoked"}])
	d := decide_regs(dpd, export_event, regs)
	denied_with(d, "euc_revoked")
	count(d.reasons) == 1
}

test_declaration_after_certificate_expired_denied if {
	regs := with_regs([{"op": "replace", "path": "/end_user_certificates/AIM-EUC-2026-0001/AIM-EUC-2026-0001/valid_until", "value": "2026-06-01"}])
	denied_with(decide_regs(dpd, export_event, regs), "euc_not_valid")
}

test_declaration_without_certificate_denied if {
	regs := with_regs([{"op": "remove", "path": "/end_user_certificates"}])
	denied_with(decide_regs(dpd, export_event, regs), "euc_missing")
}

# An unknown licence is refused as unknown; its conditions add nothing.
test_declaration_against_unknown_licence_only_unknown if {
	other := json.patch(export_event, [{"op": "replace", "path": "/event/licence_id", "value": "AIM-LIC-2026-999999"}])
	d := decide(dpd, "push", other)
	codes(d) == {"licence_unknown"}
}

# licence_ia_fits asks each entry through licence_ia_faulty, not through the
# fault set that the refusal's message lists: the two must name the same
# entries, whatever an entry lacks or gets wrong.
ia_variants := {
	"fits": import_authorisation_register,
	"destination": object.union(import_authorisation_register, {"destination": "SRB"}),
	"expired": object.union(import_authorisation_register, {"valid_until": "2026-06-01"}),
	"short": object.union(import_authorisation_register, {"items": {"ML1": 499}}),
	"other_category": object.union(object.remove(import_authorisation_register, ["items"]), {"items": {"ML2": 500}}),
	"no_items": object.remove(import_authorisation_register, ["items"]),
	"no_destination": object.remove(import_authorisation_register, ["destination"]),
	"no_dates": object.remove(import_authorisation_register, ["valid_from", "valid_until"]),
}

test_licence_ia_faulty_names_the_entries_licence_ia_fault_names if {
	regs := with_regs([{"op": "replace", "path": "/import_authorisations/CZ-IA-2026-0001", "value": ia_variants}])
	q := {"caller": aim, "action": "push", "record": licence, "previous": null, "registers": regs}
	faulty := {id | some id, ia in ia_variants; data.ura.licence_ia_faulty(ia)} with input as q with time.now_ns as now
	faults := {f[0] | some f in data.ura.licence_ia_fault} with input as q with time.now_ns as now
	faulty == faults
	faulty == {"destination", "expired", "short", "other_category", "no_dates"}
}

# The same of export_ia_faulty and export_ia_fault, for a declaration and
# for one without its date (which no entry's validity is then tested on).
test_export_ia_faulty_names_the_entries_export_ia_fault_names if {
	variants := object.union(ia_variants, {"short": object.union(import_authorisation_register, {"items": {"ML1": 350}})})
	regs := with_regs([{"op": "replace", "path": "/import_authorisations/CZ-IA-2026-0001", "value": variants}])
	every event in [export_event, json.patch(export_event, [{"op": "remove", "path": "/event/at"}])] {
		q := {"caller": dpd, "action": "push", "record": event, "previous": null, "registers": regs}
		faulty := {id | some id, ia in variants; data.ura.export_ia_faulty(ia)} with input as q with time.now_ns as now
		faults := {f[0] | some f in data.ura.export_ia_fault} with input as q with time.now_ns as now
		faulty == faults
		count(faulty) >= 3
	}
}
