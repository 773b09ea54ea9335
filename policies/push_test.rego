package ura_test

# Push authority by kind of member.

test_aim_pushes_licence_allowed if allowed(decide(aim, "push", licence))

test_customs_pushes_licence_denied if {
	denied_with(decide(dpd, "push", with_originator(licence, "AL/GOV/DPD")), "push_not_authorised")
}

test_aim_pushes_registers_allowed if {
	entity := {"kind": "entity", "id": "AIM-ENT-1", "version": 1, "label": label("UNCLASSIFIED", ["ALB"], "AL/GOV/AIM"), "entity": {"entity_id": "L61234567A", "name": "KAYO sh.a."}}
	allowed(decide(aim, "push", entity))
	excluded := {"kind": "excluded_entity", "id": "AIM-EXC-2", "version": 1, "label": label("UNCLASSIFIED", ["ALB"], "AL/GOV/AIM"), "excluded_entity": {"entity_id": "L00000000A", "name": "X"}}
	allowed(decide(aim, "push", excluded))
}

test_ministry_pushes_register_denied if {
	entity := {"kind": "entity", "id": "MOD-ENT-1", "version": 1, "label": label("UNCLASSIFIED", ["ALB"], "AL/GOV/MOD"), "entity": {"entity_id": "L61234567A", "name": "KAYO sh.a."}}
	denied_with(decide(mod, "push", entity), "push_not_authorised")
}

test_aim_pushes_marking_events_allowed if {
	every t in ["MANUFACTURED", "IMPORT_MARKED", "TRANSFERRED", "STORED", "DEACTIVATED", "DESTROYED", "LOST", "STOLEN"] {
		allowed(decide(aim, "push", aim_event(t)))
	}
}

test_aim_pushes_export_declaration_denied if {
	denied_with(decide(aim, "push", with_originator(export_event, "AL/GOV/AIM")), "push_not_authorised")
}

test_customs_pushes_declarations_allowed if {
	allowed(decide(dpd, "push", export_event))
	every t in ["EXIT_CONFIRMED", "IMPORT_DECLARED"] {
		d := decide(dpd, "push", json.patch(export_event, [{"op": "replace", "path": "/event/type", "value": t}]))
		not "push_not_authorised" in codes(d)
	}
}

test_customs_pushes_manufacture_denied if {
	denied_with(decide(dpd, "push", with_originator(aim_event("MANUFACTURED"), "AL/GOV/DPD")), "push_not_authorised")
}

test_ministry_pushes_end_user_certificate_allowed if {
	euc := {"kind": "end_user_certificate", "id": "MOD-EUC-1", "version": 1, "label": label("RESTRICTED", ["ALB"], "AL/GOV/MOD"), "end_user_certificate": {"end_user": {"name": "Albanian Armed Forces", "country": "ALB"}}}
	allowed(decide(mod, "push", euc))
}

test_ministry_pushes_own_procurement_events_allowed if {
	allowed(decide(mod, "push", with_originator(aim_event("TRANSFERRED"), "AL/GOV/MOD")))
	allowed(decide(mod, "push", with_originator(aim_event("STORED"), "AL/GOV/MOD")))
}

test_ministry_pushes_licence_or_destruction_denied if {
	denied_with(decide(mod, "push", with_originator(licence, "AL/GOV/MOD")), "push_not_authorised")
	denied_with(decide(mod, "push", with_originator(aim_event("DESTROYED"), "AL/GOV/MOD")), "push_not_authorised")
}

test_partner_pushes_trace_request_allowed if {
	req := json.patch(with_originator(aim_event("TRACE_REQUEST"), "IT/GOV/MOD"), [{"op": "add", "path": "/event/trace", "value": {"request_id": "IT-TR-1"}}])
	allowed(decide(ita, "push", req))
}

test_partner_pushes_transfer_denied if {
	denied_with(decide(ita, "push", with_originator(aim_event("TRANSFERRED"), "IT/GOV/MOD")), "push_not_authorised")
}

# The liaison office asks for traces (trace_test.rego) and pushes nothing
# else; a security officer pushes nothing.
test_liaison_pushes_only_trace_requests if {
	denied_with(decide(nato, "push", with_originator(aim_event("TRACE_RESPONSE"), "NATO/ORG/LIAISON")), "push_not_authorised")
	denied_with(decide(nato, "push", with_originator(aim_event("TRANSFERRED"), "NATO/ORG/LIAISON")), "push_not_authorised")
	denied_with(decide(nato, "push", with_originator(licence, "NATO/ORG/LIAISON")), "push_not_authorised")
}

test_auditor_pushes_nothing if {
	denied_with(decide(auditor, "push", with_originator(licence, "AL/GOV/AUDIT")), "push_not_authorised")
	denied_with(decide(auditor, "push", with_originator(aim_event("TRACE_REQUEST"), "AL/GOV/AUDIT")), "push_not_authorised")
}

# The caller is the label's originator.

test_originator_is_caller_allowed if allowed(decide(dpd, "push", export_event))

test_originator_mismatch_denied if {
	denied_with(decide(dpd, "push", with_originator(export_event, "AL/GOV/AIM")), "originator_mismatch")
}

test_push_without_record_kind_denied if {
	d := decide(aim, "push", json.remove(licence, ["kind"]))
	denied_with(d, "push_not_authorised")
}

# Without an originator an id has no namespace, so that refusal comes first.
test_originator_missing_denied if {
	d := decide(aim, "push", json.remove(licence, ["label/originator"]))
	denied_with(d, "id_outside_namespace")
	contains(d.reasons[0].message, "(no namespace)")
}

test_originator_mismatch_denied if {
	d := decide(aim, "push", with_originator(licence, "AL/GOV/MOD"))
	denied_with(d, "originator_mismatch")
}

# Only the originator pushes new versions.

test_owner_pushes_new_version_allowed if {
	v4 := json.patch(licence, [{"op": "replace", "path": "/version", "value": 4}])
	allowed(decide_prev(aim, v4, licence))
}

test_other_member_replaces_record_denied if {
	v2 := json.patch(with_originator(export_event, "AL/GOV/AIM"), [{"op": "replace", "path": "/version", "value": 2}])
	d := decide_prev(aim, v2, export_event)
	denied_with(d, "not_record_owner")
}

# No silent downgrade of the label.

lowered := json.patch(licence, [{"op": "replace", "path": "/version", "value": 4}, {"op": "replace", "path": "/label/classification", "value": "UNCLASSIFIED"}])

widened := json.patch(licence, [{"op": "replace", "path": "/version", "value": 4}, {"op": "replace", "path": "/label/releasable_to", "value": ["ALB", "NATO", "ITA"]}])

narrowed := json.patch(licence, [{"op": "replace", "path": "/version", "value": 4}, {"op": "replace", "path": "/label/releasable_to", "value": ["ALB"]}, {"op": "replace", "path": "/label/classification", "value": "CONFIDENTIAL"}])

test_originator_may_lower_or_widen if {
	allowed(decide_prev(aim, lowered, licence))
	allowed(decide_prev(aim, widened, licence))
}

test_lowered_classification_by_other_member_denied if {
	prev := with_originator(licence, "AL/GOV/MOD")
	denied_with(decide_prev(aim, lowered, prev), "label_downgrade")
}

test_widened_releasability_by_other_member_denied if {
	prev := with_originator(licence, "AL/GOV/MOD")
	d := decide_prev(aim, widened, prev)
	denied_with(d, "label_downgrade")
	some r in d.reasons
	r.code == "label_downgrade"
	not contains(r.message, "AL/GOV/MOD")
}

test_tightened_label_is_no_downgrade if {
	prev := with_originator(licence, "AL/GOV/MOD")
	d := decide_prev(aim, narrowed, prev)
	not "label_downgrade" in codes(d)
}

test_unknown_classification_counts_as_downgrade if {
	prev := with_originator(licence, "AL/GOV/MOD")
	odd := json.patch(lowered, [{"op": "replace", "path": "/label/classification", "value": "COSMIC"}])
	denied_with(decide_prev(aim, odd, prev), "label_downgrade")
}

test_previous_without_releasability_counts_as_widening if {
	prev := json.remove(with_originator(licence, "AL/GOV/MOD"), ["label/releasable_to"])
	v4 := json.patch(licence, [{"op": "replace", "path": "/version", "value": 4}])
	denied_with(decide_prev(aim, v4, prev), "label_downgrade")
}

# Record ids are bound to their originator's namespace: a partner cannot
# take an id AIM will use, nor one AIM already uses.
test_id_squatting_refused if {
	squat := json.patch(with_originator(licence, "IT/GOV/MOD"), [{"op": "replace", "path": "/id", "value": "AIM-LIC-2026-NOPE-9"}])
	d := decide(ita, "push", squat)
	not d.allow
	d.reasons == [{"code": "id_outside_namespace", "message": "record ids of IT/GOV/MOD must begin with IT-GOV-MOD-; this id is not in that namespace"}]
	d.redactions == []
}

test_id_in_own_namespace_allowed if {
	allowed(decide(aim, "push", licence))
	startswith(licence.id, "AIM-")
}

test_default_namespace_is_member_id if {
	data.ura.id_prefixes("IT/GOV/MOD") == ["IT-GOV-MOD-"]
	data.ura.id_prefixes("AL/GOV/DPD") == ["DPD-"]
}

# A default namespace inside a listed one would let its member take ids of
# the listed institution: such a member has no namespace, and every id it
# pushes is refused.
test_default_namespace_inside_listed_is_none if {
	data.ura.id_prefixes("AIM/GOV/X") == []
	data.ura.id_prefixes("MOD/GOV/MOD") == []
	squat := json.patch(licence, [{"op": "replace", "path": "/label/originator", "value": "AIM/GOV/X"}, {"op": "replace", "path": "/id", "value": "AIM-GOV-X-LIC-1"}])
	d := decide({"member": "AIM/GOV/X", "nation": "ITA", "kind": "agency", "clearance": "SECRET", "roles": []}, "push", squat)
	d.reasons == [{"code": "id_outside_namespace", "message": "record ids of AIM/GOV/X must begin with (no namespace); this id is not in that namespace"}]
}

# A push naming a stored record the caller does not own gets the same answer
# whether that record exists or not, and quotes nothing of it.
test_push_hidden_equals_missing if {
	probe := json.patch(with_originator(licence, "IT/GOV/MOD"), [{"op": "replace", "path": "/id", "value": licence.id}])
	secret := json.patch(licence, [{"op": "replace", "path": "/label/classification", "value": "SECRET"}])
	hidden := decide_prev(ita, probe, secret)
	missing := decide_prev(ita, probe, null)
	hidden == missing
	not hidden.allow
	not contains(json.marshal(hidden), "SECRET")
	not contains(json.marshal(hidden), "AL/GOV/AIM")
}

# The listed namespaces never overlap: one id has at most one owner.
test_namespaces_disjoint if {
	overlaps := {[a, b] |
		some a, pa in data.ura_data.id_namespaces
		some b, pb in data.ura_data.id_namespaces
		a != b
		some x in pa
		some y in pb
		startswith(x, y)
	}
	count(overlaps) == 0
}
