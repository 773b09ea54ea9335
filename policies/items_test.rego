package ura_test

# Item states, exit confirmations, delivery confirmations and import licences.

item := "ALB|KAYO|K26-000123"

# The registers with the item's history: each [record id, type, at].
with_history(history) := json.patch(registers, [{"op": "add", "path": "/items", "value": {item: {id: {"type": t, "at": at} |
	some [id, t, at] in history
}}}])

made := ["AIM-EVT-1", "MANUFACTURED", "2026-05-01T08:00:00.000000000Z"]

stolen := ["AIM-EVT-2", "STOLEN", "2026-05-20T08:00:00.000000000Z"]

recovered := ["AIM-EVT-3", "RECOVERED", "2026-05-25T08:00:00.000000000Z"]

transfer_event := json.patch(aim_event("TRANSFERRED"), [{"op": "replace", "path": "/id", "value": "AIM-EVT-2026-0000009"}])

test_item_in_stock_exported_and_transferred if {
	regs := with_history([made])
	allowed(decide_regs(dpd, export_event, regs))
	allowed(decide_regs(aim, transfer_event, regs))
}

test_unknown_item_exported if allowed(decide_regs(dpd, export_event, with_history([])))

test_stolen_item_not_exported if {
	d := decide_regs(dpd, export_event, with_history([made, stolen]))
	denied_with(d, "item_stolen")
	count(d.reasons) == 1
	denied_with(decide_regs(aim, transfer_event, with_history([made, stolen])), "item_stolen")
}

test_recovered_item_exported_again if allowed(decide_regs(dpd, export_event, with_history([made, stolen, recovered])))

test_lost_item_not_exported if {
	lost := ["AIM-EVT-2", "LOST", "2026-05-20T08:00:00.000000000Z"]
	denied_with(decide_regs(dpd, export_event, with_history([made, lost])), "item_lost")
	denied_with(decide_regs(aim, transfer_event, with_history([made, lost])), "item_lost")
}

test_deactivated_item_not_exported if {
	deact := ["AIM-EVT-2", "DEACTIVATED", "2026-05-20T08:00:00.000000000Z"]
	denied_with(decide_regs(dpd, export_event, with_history([made, deact])), "item_deactivated")
	denied_with(decide_regs(aim, transfer_event, with_history([made, deact])), "item_deactivated")
}

test_nothing_after_destruction if {
	destroyed := ["AIM-EVT-2", "DESTROYED", "2026-05-20T08:00:00.000000000Z"]
	regs := with_history([made, destroyed])
	d := decide_regs(dpd, export_event, regs)
	denied_with(d, "item_destroyed")
	count(d.reasons) == 1
	denied_with(decide_regs(aim, aim_event("STORED"), regs), "item_destroyed")
	r := decide_regs(aim, aim_event("RECOVERED"), regs)
	denied_with(r, "item_destroyed")
	not "item_not_missing" in codes(r)
}

# The latest event decides, by event time, not by the order pushed.
test_state_is_the_latest_by_event_time if {
	late_report := ["AIM-EVT-9", "STOLEN", "2026-05-10T08:00:00.000000000Z"]
	allowed(decide_regs(dpd, export_event, with_history([made, late_report, recovered])))
	denied_with(decide_regs(dpd, export_event, with_history([made, recovered, ["AIM-EVT-0", "STOLEN", "2026-05-30T08:00:00.000000000Z"]])), "item_stolen")
}

# Two events at one time: the higher record id is the later.
test_state_ties_by_record_id if {
	at := "2026-05-20T08:00:00.000000000Z"
	denied_with(decide_regs(dpd, export_event, with_history([made, ["AIM-EVT-A", "RECOVERED", at], ["AIM-EVT-B", "STOLEN", at]])), "item_stolen")
	allowed(decide_regs(dpd, export_event, with_history([made, ["AIM-EVT-B", "STOLEN", at], ["AIM-EVT-C", "RECOVERED", at]])))
}

# A new version of the record that reported the theft replaces it.
test_own_entry_not_a_predecessor if {
	regs := with_history([made, ["AIM-EVT-2026-0000001", "STOLEN", "2026-05-20T08:00:00.000000000Z"]])
	allowed(decide_regs(aim, aim_event("STOLEN"), regs))
	d := decide_regs(aim, aim_event("RECOVERED"), regs)
	denied_with(d, "item_not_missing")
}

test_recovered_only_when_missing if {
	allowed(decide_regs(aim, aim_event("RECOVERED"), with_history([made, stolen])))
	lost := ["AIM-EVT-2", "LOST", "2026-05-20T08:00:00.000000000Z"]
	allowed(decide_regs(aim, aim_event("RECOVERED"), with_history([made, lost])))
	d := decide_regs(aim, aim_event("RECOVERED"), with_history([made]))
	denied_with(d, "item_not_missing")
	count(d.reasons) == 1
	denied_with(decide_regs(aim, aim_event("RECOVERED"), with_history([])), "item_not_missing")
	denied_with(decide_regs(aim, aim_event("RECOVERED"), with_history([made, stolen, recovered])), "item_not_missing")
}

test_recovered_pushed_by_the_agency_only if {
	denied_with(decide_regs(dpd, with_originator(aim_event("RECOVERED"), "AL/GOV/DPD"), with_history([made, stolen])), "push_not_authorised")
}

# A foreign institution's event is never refused on the state of an item
# here: the refusal would tell it the state.
test_foreign_event_not_refused_on_item_state if {
	destroyed := ["AIM-EVT-2", "DESTROYED", "2026-05-20T08:00:00.000000000Z"]
	allowed(decide_regs(ita, ita_delivery, with_history([made, destroyed])))
}

# Trace requests are about the item, not part of its life.
test_trace_request_about_destroyed_item if {
	destroyed := ["AIM-EVT-2", "DESTROYED", "2026-05-20T08:00:00.000000000Z"]
	allowed(decide_regs(ita, ita_request, with_history([made, destroyed])))
}

# IMPORT_DECLARED against the register of licences.

import_licence := object.union(licence_register, {"type": "import", "destination": "ALB"})

import_event := json.patch(export_event, [
	{"op": "replace", "path": "/id", "value": "DPD-EVT-2026-9000100"},
	{"op": "replace", "path": "/event/type", "value": "IMPORT_DECLARED"},
	{"op": "replace", "path": "/event/from", "value": "CZE"},
	{"op": "replace", "path": "/event/to", "value": "ALB"},
	{"op": "replace", "path": "/event/customs_declaration", "value": "IM-2026-000001"},
])

import_regs(patch) := registers_with_licence(object.union(import_licence, patch))

test_import_under_import_licence_allowed if allowed(decide_regs(dpd, import_event, import_regs({})))

test_import_unknown_licence_denied if {
	unknown := json.patch(import_event, [{"op": "replace", "path": "/event/licence_id", "value": "AIM-LIC-2026-999999"}])
	d := decide_regs(dpd, unknown, import_regs({}))
	denied_with(d, "licence_unknown")
	count(d.reasons) == 1
	denied_with(decide_regs(dpd, json.remove(import_event, ["event/licence_id"]), import_regs({})), "licence_unknown")
}

test_import_under_export_licence_denied if {
	d := decide_regs(dpd, import_event, registers)
	denied_with(d, "licence_type_mismatch")
	some r in d.reasons
	r.code == "licence_type_mismatch"
	contains(r.message, "not an import licence")
}

test_import_licence_not_in_force_denied if {
	denied_with(decide_regs(dpd, import_event, import_regs({"status": "suspended"})), "licence_suspended")
	denied_with(decide_regs(dpd, import_event, import_regs({"status": "revoked"})), "licence_revoked")
	denied_with(decide_regs(dpd, import_event, import_regs({"valid_until": "2026-06-01"})), "licence_expired")
	denied_with(decide_regs(dpd, import_event, import_regs({"valid_from": "2026-06-03"})), "licence_not_yet_valid")
	denied_with(decide_regs(dpd, import_event, import_regs({"status": "draft"})), "licence_not_in_force")
	denied_with(decide_regs(dpd, import_event, import_regs({"originator": "IT/GOV/MOD"})), "licence_not_national")
}

test_import_category_not_covered_denied if {
	regs := json.patch(import_regs({}), [{"op": "replace", "path": "/licences/AIM-LIC-2026-000123/items", "value": {"ML3": 10}}])
	d := decide_regs(dpd, import_event, regs)
	denied_with(d, "licence_category_not_covered")
}

# An import is not an export: neither destination nor balance applies.
test_import_not_checked_as_export if {
	d := decide_regs(dpd, import_event, import_regs({"items": {"ML1": 1}}))
	allowed(d)
}

# A peer's relayed IMPORT_DECLARED is its own state's import, under its own
# licence: not checked against this register.
test_relayed_import_not_checked_here if {
	relayed := json.patch(with_originator(import_event, "IT/GOV/MOD"), [
		{"op": "replace", "path": "/label/releasable_to", "value": ["ALB", "ITA"]},
		{"op": "replace", "path": "/event/licence_id", "value": "IT-LIC-1"},
		{"op": "replace", "path": "/event/from", "value": "ALB"},
		{"op": "replace", "path": "/event/to", "value": "ITA"},
	])
	allowed(decide_regs(itgw, relayed, import_regs({})))
}

# EXIT_CONFIRMED against the declarations.

exit_event := json.patch(export_event, [
	{"op": "replace", "path": "/id", "value": "DPD-EVT-2026-9000002"},
	{"op": "replace", "path": "/event/type", "value": "EXIT_CONFIRMED"},
])

declared := {"type": "EXPORT_DECLARED", "item": item, "licence_id": "AIM-LIC-2026-000123", "ml_category": "ML1", "quantity": 100, "to": "CZE", "at": "2026-06-02T07:55:00.000000000Z"}

with_declarations(entries) := json.patch(registers, [{"op": "add", "path": "/declarations", "value": {"EX-2026-000456": entries}}])

flags(d) := {r.code | some r in d.reasons; r.code != "redacted"}

test_exit_matching_declaration_not_flagged if {
	d := decide_regs(dpd, exit_event, with_declarations({"DPD-EVT-2026-9000001": declared}))
	d.allow
	count(flags(d)) == 0
}

test_exit_without_declaration_flagged if {
	d := decide_regs(dpd, exit_event, registers)
	d.allow
	flags(d) == {"exit_without_declaration"}
	d2 := decide_regs(dpd, json.remove(exit_event, ["event/customs_declaration"]), registers)
	flags(d2) == {"exit_without_declaration"}
}

test_exit_mismatch_flagged if {
	other_item := object.union(declared, {"item": "ALB|KAYO|OTHER"})
	d1 := decide_regs(dpd, exit_event, with_declarations({"DPD-EVT-2026-9000001": other_item}))
	d1.allow
	flags(d1) == {"exit_declaration_mismatch"}
	other_qty := object.union(declared, {"quantity": 99})
	flags(decide_regs(dpd, exit_event, with_declarations({"DPD-EVT-2026-9000001": other_qty}))) == {"exit_declaration_mismatch"}
	other_lic := object.union(declared, {"licence_id": "AIM-LIC-2026-000999"})
	flags(decide_regs(dpd, exit_event, with_declarations({"DPD-EVT-2026-9000001": other_lic}))) == {"exit_declaration_mismatch"}
}

# An exit naming no licence is matched on item and quantity.
test_exit_without_licence_matches if {
	d := decide_regs(dpd, json.remove(exit_event, ["event/licence_id"]), with_declarations({"DPD-EVT-2026-9000001": declared}))
	count(flags(d)) == 0
}

# Only declarations count, never another exit or a delivery under the number.
test_exit_matches_declarations_only if {
	entries := {
		"DPD-EVT-2026-9000003": object.union(declared, {"type": "EXIT_CONFIRMED"}),
		"ITA-1": {"type": "DELIVERY_CONFIRMED", "to": "CZE", "at": "2026-06-03T08:00:00.000000000Z"},
	}
	flags(decide_regs(dpd, exit_event, with_declarations(entries))) == {"exit_without_declaration"}
}

# One declaration, several items: the exit matches its own.
test_exit_matches_its_item_among_several if {
	entries := {"DPD-EVT-2026-9000001": declared, "DPD-EVT-2026-9000009": object.union(declared, {"item": "ALB|KAYO|OTHER"})}
	count(flags(decide_regs(dpd, exit_event, with_declarations(entries)))) == 0
}

# DELIVERY_CONFIRMED from the importing state.

ita_delivery := json.patch(with_originator(exit_event, "IT/GOV/MOD"), [
	{"op": "replace", "path": "/event/type", "value": "DELIVERY_CONFIRMED"},
	{"op": "replace", "path": "/event/to", "value": "ITA"},
	{"op": "replace", "path": "/label/releasable_to", "value": ["ALB", "ITA"]},
])

test_delivery_confirmed_by_importing_partner if allowed(decide(ita, "push", ita_delivery))

test_delivery_confirmed_relayed_by_importers_gateway if allowed(decide(itgw, "push", ita_delivery))

test_delivery_confirmed_by_another_state_denied if {
	cz := with_originator(ita_delivery, "CZ/GOV/MOD")
	d := decide(cze, "push", cz)
	denied_with(d, "delivery_not_from_importer")
	count(d.reasons) == 1
	denied_with(decide(itgw, "push", json.patch(ita_delivery, [{"op": "replace", "path": "/event/to", "value": "CZE"}])), "delivery_not_from_importer")
}

test_delivery_confirmed_not_by_own_institutions if {
	denied_with(decide(dpd, "push", with_originator(ita_delivery, "AL/GOV/DPD")), "push_not_authorised")
	denied_with(decide(aim, "push", with_originator(ita_delivery, "AL/GOV/AIM")), "push_not_authorised")
	denied_with(decide(nato, "push", with_originator(ita_delivery, "NATO/ORG/LIAISON")), "push_not_authorised")
}

# The importing partner reads its own confirmation; another partner does not.
test_delivery_pulled_by_the_importer_only if {
	allowed(decide(ita, "pull", ita_delivery))
	denied_with(decide(cze, "pull", json.patch(ita_delivery, [{"op": "replace", "path": "/label/releasable_to", "value": ["ALB", "ITA", "CZE"]}, {"op": "replace", "path": "/event/from", "value": "HRV"}])), "outside_partner_scope")
}
