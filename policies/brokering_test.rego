package ura_test

# Brokering (UN Firearms Protocol art. 15; Common Position 2003/468/CFSP).

broker := {"entity_id": "M01523408K", "name": "Shqiponja Defence Trading sh.p.k.", "brokering_licence_id": "AIM-BRL-2026-0011"}

brokering_registers := object.union(registers, {
	"broker_registrations": {"M01523408K": {"AIM-BRK-REG-1": {
		"record_id": "AIM-BRK-REG-1", "registering_state": "ALB", "registration_number": "AIM-REG-BRK-2026-004",
		"valid_from": "2026-02-03", "valid_until": "2029-02-02", "status": "active",
	}}},
	"brokering_licences": {"AIM-BRL-2026-0011": {"AIM-BRL-2026-0011": {
		"record_id": "AIM-BRL-2026-0011", "broker": "M01523408K", "destination": "CZE", "status": "issued",
		"valid_from": "2026-05-01", "valid_until": "2028-04-30", "items": {"ML1": 500, "ML3": 200000},
	}}},
})

brokered_licence := json.patch(licence, [{"op": "add", "path": "/licence/broker", "value": broker}])

brokered_export := json.patch(export_event, [{"op": "add", "path": "/event/broker", "value": broker}])

brokering_codes := {"broker_not_registered", "brokering_licence_missing", "brokering_not_covered", "excluded_entity"}

with_brokering(patches) := json.patch(brokering_registers, patches)

test_brokered_licence_allowed if allowed(decide_regs(aim, brokered_licence, brokering_registers))

test_brokered_declaration_allowed if allowed(decide_regs(dpd, brokered_export, brokering_registers))

test_unbrokered_transaction_needs_no_broker if {
	allowed(decide(aim, "push", licence))
	allowed(decide(dpd, "push", export_event))
}

test_broker_not_registered if {
	d := decide_regs(aim, brokered_licence, registers)
	denied_with(d, "broker_not_registered")
	codes(d) & brokering_codes == {"broker_not_registered"}
	denied_with(decide_regs(dpd, brokered_export, registers), "broker_not_registered")
}

test_broker_registration_suspended_or_expired if {
	suspended := with_brokering([{"op": "replace", "path": "/broker_registrations/M01523408K/AIM-BRK-REG-1/status", "value": "suspended"}])
	denied_with(decide_regs(aim, brokered_licence, suspended), "broker_not_registered")
	expired := with_brokering([{"op": "replace", "path": "/broker_registrations/M01523408K/AIM-BRK-REG-1/valid_until", "value": "2026-06-01"}])
	denied_with(decide_regs(aim, brokered_licence, expired), "broker_not_registered")
}

test_brokering_licence_missing if {
	none := with_brokering([{"op": "remove", "path": "/brokering_licences"}])
	d := decide_regs(aim, brokered_licence, none)
	denied_with(d, "brokering_licence_missing")
	codes(d) & brokering_codes == {"brokering_licence_missing"}
	denied_with(decide_regs(dpd, brokered_export, none), "brokering_licence_missing")
}

# Another broker's licence, or one not in force, is no licence of this broker's.
test_brokering_licence_of_another_broker_or_not_in_force if {
	other := with_brokering([{"op": "replace", "path": "/brokering_licences/AIM-BRL-2026-0011/AIM-BRL-2026-0011/broker", "value": "K72019384C"}])
	denied_with(decide_regs(aim, brokered_licence, other), "brokering_licence_missing")
	revoked := with_brokering([{"op": "replace", "path": "/brokering_licences/AIM-BRL-2026-0011/AIM-BRL-2026-0011/status", "value": "revoked"}])
	denied_with(decide_regs(aim, brokered_licence, revoked), "brokering_licence_missing")
	later := with_brokering([{"op": "replace", "path": "/brokering_licences/AIM-BRL-2026-0011/AIM-BRL-2026-0011/valid_from", "value": "2026-07-01"}])
	denied_with(decide_regs(aim, brokered_licence, later), "brokering_licence_missing")
}

test_brokering_not_covered_goods if {
	fewer := with_brokering([{"op": "replace", "path": "/brokering_licences/AIM-BRL-2026-0011/AIM-BRL-2026-0011/items", "value": {"ML3": 200000}}])
	d := decide_regs(aim, brokered_licence, fewer)
	denied_with(d, "brokering_not_covered")
	codes(d) & brokering_codes == {"brokering_not_covered"}
	denied_with(decide_regs(dpd, brokered_export, fewer), "brokering_not_covered")
}

test_brokering_not_covered_destination if {
	elsewhere := with_brokering([{"op": "replace", "path": "/brokering_licences/AIM-BRL-2026-0011/AIM-BRL-2026-0011/destination", "value": "SVK"}])
	d := decide_regs(dpd, brokered_export, elsewhere)
	denied_with(d, "brokering_not_covered")
	some r in d.reasons
	contains(r.message, "SVK")
}

test_excluded_broker_refused if {
	excluded_broker := {"entity_id": "K99999999Z", "name": "Shadow Arms sh.p.k.", "brokering_licence_id": "AIM-BRL-2026-0011"}
	regs := with_brokering([
		{"op": "add", "path": "/broker_registrations/K99999999Z", "value": brokering_registers.broker_registrations.M01523408K},
		{"op": "replace", "path": "/brokering_licences/AIM-BRL-2026-0011/AIM-BRL-2026-0011/broker", "value": "K99999999Z"},
	])
	d := decide_regs(aim, json.patch(licence, [{"op": "add", "path": "/licence/broker", "value": excluded_broker}]), regs)
	codes(d) & brokering_codes == {"excluded_entity"}
	d2 := decide_regs(dpd, json.patch(export_event, [{"op": "add", "path": "/event/broker", "value": excluded_broker}]), regs)
	denied_with(d2, "excluded_entity")
	some r in d2.reasons
	contains(r.message, "broker")
}

# A peer's relayed licence is its own state's to license; its broker is
# still screened against the excluded entities.
test_relayed_brokered_licence_not_checked_here if {
	it := with_originator(brokered_licence, "IT/GOV/MOD")
	d := decide_regs(itgw, it, registers)
	count(codes(d) & {"broker_not_registered", "brokering_licence_missing", "brokering_not_covered"}) == 0
}

test_brokering_tables if {
	count(data.ura_data.brokering.source) > 0
	data.ura_data.brokering.registration_statuses == ["active"]
	every kind in ["import_authorisation", "transit_authorisation", "broker_registration", "brokering_licence"] {
		data.ura_data.push_authority.agency[kind] == true
		kind in data.ura_data.pull_kinds.agency
		kind in data.ura_data.pull_kinds.ministry
		kind in data.ura_data.pull_kinds.customs
		not kind in data.ura_data.pull_kinds.partner
		not kind in data.ura_data.pull_kinds.liaison
		not kind in data.ura_data.pull_kinds.gateway
	}
}

# Push authority and reading of the new kinds.
new_kind_record(kind, originator) := {"kind": kind, "id": concat("", [data.ura.id_prefixes(originator)[0], "X-1"]), "version": 1, "label": label("RESTRICTED", ["ALB"], originator), kind: {}}

test_agency_pushes_the_new_kinds if {
	every kind in ["import_authorisation", "transit_authorisation", "broker_registration", "brokering_licence"] {
		allowed(decide(aim, "push", new_kind_record(kind, "AL/GOV/AIM")))
	}
}

test_others_do_not_push_the_new_kinds if {
	every kind in ["import_authorisation", "transit_authorisation", "broker_registration", "brokering_licence"] {
		denied_with(decide(dpd, "push", new_kind_record(kind, "AL/GOV/DPD")), "push_not_authorised")
		denied_with(decide(mod, "push", new_kind_record(kind, "AL/GOV/MOD")), "push_not_authorised")
		denied_with(decide(ita, "push", new_kind_record(kind, "IT/GOV/MOD")), "push_not_authorised")
	}
}

test_peer_relays_authorisations_not_brokers if {
	allowed(decide(itgw, "push", new_kind_record("import_authorisation", "IT/GOV/MOD")))
	allowed(decide(itgw, "push", new_kind_record("transit_authorisation", "IT/GOV/MOD")))
	denied_with(decide(itgw, "push", new_kind_record("broker_registration", "IT/GOV/MOD")), "relay_kind_not_permitted")
	denied_with(decide(itgw, "push", new_kind_record("brokering_licence", "IT/GOV/MOD")), "relay_kind_not_permitted")
}

test_who_reads_the_new_kinds if {
	every kind in ["import_authorisation", "transit_authorisation", "broker_registration", "brokering_licence"] {
		allowed(decide(aim, "pull", new_kind_record(kind, "AL/GOV/AIM")))
		allowed(decide(dpd, "pull", new_kind_record(kind, "AL/GOV/AIM")))
		denied_with(decide(ita, "pull", json.patch(new_kind_record(kind, "AL/GOV/AIM"), [{"op": "replace", "path": "/label/releasable_to", "value": ["ALB", "ITA"]}])), "pull_not_permitted")
		denied_with(decide(nato, "pull", new_kind_record(kind, "AL/GOV/AIM")), "pull_not_permitted")
	}
}

# The agency records the foreign end user's certificate an export licence is
# issued against; the ministry still records its own.
test_agency_pushes_end_user_certificates if {
	allowed(decide(aim, "push", new_kind_record("end_user_certificate", "AL/GOV/AIM")))
}
