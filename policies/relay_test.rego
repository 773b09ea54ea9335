package ura_test

# Relays by a peer gateway (relay.rego).

it_licence := with_originator(licence, "IT/GOV/MOD")

it_euc := with_originator(
	{"kind": "end_user_certificate", "id": "EUC-1", "version": 1, "label": label("RESTRICTED", ["ALB", "ITA"], "IT/GOV/MOD"), "end_user_certificate": {"end_user": {"name": "Esercito Italiano", "country": "ITA"}}},
	"IT/GOV/MOD",
)

it_event(type) := json.patch(with_originator(aim_event(type), "IT/GOV/MOD"), [
	{"op": "replace", "path": "/label/releasable_to", "value": ["ALB", "ITA"]},
	{"op": "add", "path": "/event/from", "value": "ALB"},
	{"op": "add", "path": "/event/to", "value": "ITA"},
	{"op": "add", "path": "/event/trace", "value": {"request_id": "IT-TR-1", "requester": "AL/GOV/AIM", "reason": "seized", "requesting_authority": "Carabinieri"}},
])

relay_codes := {"relay_kind_not_permitted", "relay_originator_outside_peer", "relay_originator_own_instance"}

test_relay_licence_allowed if {
	d := decide(itgw, "push", it_licence)
	allowed(d)
	startswith(it_licence.id, "IT-GOV-MOD-")
}

test_relay_end_user_certificate_allowed if allowed(decide(itgw, "push", it_euc))

test_relay_listed_event_types_allowed if {
	every t in data.ura_data.relay_kinds.tracking_event {
		allowed(decide(itgw, "push", it_event(t)))
	}
}

test_relay_kind_not_permitted if {
	entity := with_originator({"kind": "entity", "id": "E-1", "version": 1, "label": label("UNCLASSIFIED", ["ALB"], "IT/GOV/MOD"), "entity": {"entity_id": "L61234567A", "name": "KAYO sh.a."}}, "IT/GOV/MOD")
	excluded := with_originator({"kind": "excluded_entity", "id": "X-1", "version": 1, "label": label("UNCLASSIFIED", ["ALB"], "IT/GOV/MOD"), "excluded_entity": {"entity_id": "L00000000A", "name": "X"}}, "IT/GOV/MOD")
	every r in [entity, excluded, it_event("MANUFACTURED"), it_event("EXPORT_DECLARED"), it_event("EXIT_CONFIRMED"), it_event("TRANSFERRED"), it_event("DESTROYED")] {
		d := decide(itgw, "push", r)
		denied_with(d, "relay_kind_not_permitted")
		not "push_not_authorised" in codes(d)
		not "originator_mismatch" in codes(d)
	}
}

test_relay_kind_message_names_what if {
	d := decide(itgw, "push", it_event("EXPORT_DECLARED"))
	some r in d.reasons
	r.code == "relay_kind_not_permitted"
	contains(r.message, "tracking_event EXPORT_DECLARED")
}

test_relay_albanian_originator_refused if {
	every r in [licence, with_originator(licence, "AL/GOV/MOD"), aim_event("TRACE_REQUEST")] {
		d := decide(itgw, "push", r)
		denied_with(d, "relay_originator_own_instance")
		not "relay_originator_outside_peer" in codes(d)
		not "originator_mismatch" in codes(d)
	}
}

test_relay_other_nations_originator_refused if {
	every m in ["CZ/GOV/MOD", "NATO/ORG/LIAISON", "ITA/GOV/MOD"] {
		d := decide(itgw, "push", with_originator(licence, m))
		denied_with(d, "relay_originator_outside_peer")
		not "relay_originator_own_instance" in codes(d)
	}
}

test_relay_in_its_own_name_refused if {
	denied_with(decide(itgw, "push", with_originator(licence, "IT/GOV/URA")), "relay_originator_outside_peer")
}

test_relay_malformed_originator_refused if {
	every m in ["IT", "IT/GOV", "IT/GOV/MOD/X", "/GOV/MOD"] {
		d := decide(itgw, "push", with_originator(licence, m))
		denied_with(d, "relay_originator_outside_peer")
	}
}

# A new version relayed for the same originator, label kept.
test_relay_new_version_allowed if {
	v4 := json.patch(it_licence, [{"op": "replace", "path": "/version", "value": 4}, {"op": "replace", "path": "/licence/status", "value": "suspended"}])
	allowed(decide_prev(itgw, v4, it_licence))
}

# A relayed version never lowers the classification or widens the
# releasability of the stored one, even in its originator's name.
test_relay_downgrade_refused if {
	lowered_it := json.patch(it_licence, [{"op": "replace", "path": "/version", "value": 4}, {"op": "replace", "path": "/label/classification", "value": "UNCLASSIFIED"}])
	denied_with(decide_prev(itgw, lowered_it, it_licence), "label_downgrade")
	widened_it := json.patch(it_licence, [{"op": "replace", "path": "/version", "value": 4}, {"op": "replace", "path": "/label/releasable_to", "value": ["ALB", "NATO", "SRB"]}])
	d := decide_prev(itgw, widened_it, it_licence)
	denied_with(d, "label_downgrade")
	not "not_record_owner" in codes(d)
}

test_relay_tightened_label_allowed if {
	tighter := json.patch(it_licence, [{"op": "replace", "path": "/version", "value": 4}, {"op": "replace", "path": "/label/classification", "value": "CONFIDENTIAL"}])
	allowed(decide_prev(itgw, tighter, it_licence))
}

# The stored version's originator is the relayed record's: another Italian
# institution's record is not replaced through the gateway.
test_relay_replacing_another_originators_record_refused if {
	prev := json.patch(it_licence, [{"op": "replace", "path": "/label/originator", "value": "IT/GOV/DIF"}])
	denied_with(decide_prev(itgw, it_licence, prev), "not_record_owner")
}

# Ids are in the originator's namespace, not the gateway's.
test_relay_id_namespace_is_the_originators if {
	gw_id := json.patch(it_licence, [{"op": "replace", "path": "/id", "value": "IT-GOV-URA-LIC-1"}])
	d := decide(itgw, "push", gw_id)
	d.reasons[0].code == "id_outside_namespace"
	count(d.reasons) == 1
	aim_id := json.patch(it_licence, [{"op": "replace", "path": "/id", "value": "AIM-LIC-2026-000123"}])
	decide(itgw, "push", aim_id).reasons[0].code == "id_outside_namespace"
}

# The other push checks apply to relays too.
test_relay_excluded_holder_refused if {
	excl := json.patch(it_licence, [{"op": "replace", "path": "/licence/holder", "value": {"entity_id": "K99999999Z", "name": "Shadow Arms sh.p.k."}}])
	denied_with(decide(itgw, "push", excl), "excluded_entity")
}

test_relayed_trace_request_must_reach_the_agency if {
	ita_only := json.patch(it_event("TRACE_REQUEST"), [{"op": "replace", "path": "/label/releasable_to", "value": ["ITA"]}])
	denied_with(decide(itgw, "push", ita_only), "trace_request_not_releasable")
}

# Members of other kinds keep originator_mismatch and push_not_authorised,
# and never meet a relay refusal.
test_non_gateway_members_meet_no_relay_rule if {
	d := decide(ita, "push", with_originator(licence, "IT/GOV/DIF"))
	denied_with(d, "originator_mismatch")
	denied_with(d, "push_not_authorised")
	count(codes(d) & relay_codes) == 0
	d2 := decide(dpd, "push", with_originator(aim_event("MANUFACTURED"), "AL/GOV/DPD"))
	count(codes(d2) & relay_codes) == 0
}

# What a gateway is sent (forwarded, or pulled: outbound is a pull by the
# recipient) is what a partner of its nation may pull: not another nation's
# licence released only to it.
test_gateway_pulls_as_its_nation if {
	denied_with(decide(itgw, "pull", json.patch(it_licence, [{"op": "replace", "path": "/label/releasable_to", "value": ["ALB"]}])), "not_releasable")
}

test_relay_tables if {
	data.ura_data.own_instance == "AL"
	not data.ura_data.push_authority.gateway
	data.ura_data.pull_kinds.gateway == data.ura_data.pull_kinds.partner
	data.ura_data.redactions.gateway == data.ura_data.redactions.partner
	not data.ura_data.relay_kinds.entity
	not data.ura_data.relay_kinds.excluded_entity
	every t in ["MANUFACTURED", "IMPORT_MARKED", "TRANSFERRED", "EXPORT_DECLARED", "EXIT_CONFIRMED", "STORED", "DEACTIVATED", "DESTROYED"] {
		not t in data.ura_data.relay_kinds.tracking_event
	}
}

test_instance_of if {
	data.ura.instance_of("IT/GOV/MOD") == "IT"
	data.ura.instance_of("NATO/ORG/LIAISON") == "NATO"
	not data.ura.instance_of("IT")
	not data.ura.instance_of("IT/GOV")
	not data.ura.instance_of("IT/GOV/MOD/X")
	not data.ura.instance_of("/GOV/MOD")
	not data.ura.instance_of(5)
}
