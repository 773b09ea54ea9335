package ura_test

# Trace requests and their answers across the border.

# A trace request by originator about an item marked in marked_in.
trace_request(originator, releasable, marked_in) := json.patch(with_originator(aim_event("TRACE_REQUEST"), originator), [
	{"op": "replace", "path": "/label/releasable_to", "value": releasable},
	{"op": "replace", "path": "/event/item/marking/country", "value": marked_in},
	{"op": "add", "path": "/event/trace", "value": {
		"request_id": "TR-2026-0001",
		"reason": "rifle seized at a border crossing",
		"requesting_authority": "Guardia di Finanza",
	}},
])

# AIM's answer to requester.
trace_response(requester, releasable) := json.patch(aim_event("TRACE_RESPONSE"), [
	{"op": "replace", "path": "/id", "value": "AIM-EVT-2026-0000900"},
	{"op": "replace", "path": "/label/releasable_to", "value": releasable},
	{"op": "add", "path": "/event/trace", "value": {
		"request_id": "TR-2026-0001",
		"requester": requester,
		"answer": "manufactured by KAYO in 2026, exported to CZE under AIM-LIC-2026-000123",
	}},
])

ita_request := trace_request("IT/GOV/MOD", ["ALB", "ITA"], "ALB")

# Who may ask.

test_partner_and_liaison_push_trace_requests if {
	allowed(decide(ita, "push", ita_request))
	allowed(decide(nato, "push", trace_request("NATO/ORG/LIAISON", ["NATO"], "ALB")))
}

test_liaison_does_not_answer_traces if {
	denied_with(decide(nato, "push", with_originator(trace_response("AL/GOV/AIM", ["NATO"]), "NATO/ORG/LIAISON")), "push_not_authorised")
}

test_partner_answers_the_agencys_trace_request if {
	answer := with_originator(trace_response("AL/GOV/AIM", ["ALB", "ITA"]), "IT/GOV/MOD")
	allowed(decide(ita, "push", answer))
}

test_customs_and_ministry_push_no_trace_requests if {
	denied_with(decide(dpd, "push", trace_request("AL/GOV/DPD", ["ALB"], "ALB")), "push_not_authorised")
	denied_with(decide(mod, "push", trace_request("AL/GOV/MOD", ["ALB"], "ALB")), "push_not_authorised")
}

# A foreign trace request must be readable by the institutions asked.
test_trace_request_not_releasable_here_refused if {
	d := decide(ita, "push", trace_request("IT/GOV/MOD", ["ITA"], "ALB"))
	denied_with(d, "trace_request_not_releasable")
	count(d.reasons) == 1
	denied_with(decide(ita, "push", trace_request("IT/GOV/MOD", ["EU"], "ALB")), "trace_request_not_releasable")
	allowed(decide(ita, "push", trace_request("IT/GOV/MOD", ["NATO"], "ALB")))
}

test_trace_request_without_label_refused if {
	d := decide(ita, "push", json.remove(ita_request, ["label/releasable_to"]))
	denied_with(d, "trace_request_not_releasable")
}

# The agency's own requests go to whoever it releases them to.
test_agency_trace_request_needs_no_albanian_release if {
	allowed(decide(aim, "push", trace_request("AL/GOV/AIM", ["ITA"], "ITA")))
}

# Who sees the requests.

test_agency_sees_trace_requests_on_albanian_markings if {
	allowed(decide(aim, "pull", ita_request))
	allowed(decide(aim, "pull", trace_request("NATO/ORG/LIAISON", ["NATO"], "ALB")))
}

test_partner_sees_its_own_trace_request if {
	allowed(decide(ita, "pull", ita_request))
}

test_partner_sees_requests_about_its_markings if {
	about_italian_item := trace_request("AL/GOV/AIM", ["ALB", "ITA"], "ITA")
	allowed(decide(ita, "pull", about_italian_item))
}

test_partner_denied_other_partners_requests if {
	czech := trace_request("CZ/GOV/MOD", ["NATO"], "ALB")
	d := decide(ita, "pull", czech)
	denied_with(d, "outside_partner_scope")
	count(d.reasons) == 1
}

# Who sees the answers.

test_partner_sees_the_answer_to_its_own_request if {
	d := decide(ita, "pull", trace_response("IT/GOV/MOD", ["ALB", "ITA"]))
	allowed(d)
	not "outside_partner_scope" in codes(d)
}

test_other_partner_denied_the_answer if {
	d := decide(cze, "pull", trace_response("IT/GOV/MOD", ["NATO"]))
	denied_with(d, "trace_response_not_addressed")
	count(d.reasons) == 1
	every r in d.reasons {
		not contains(r.message, "IT/GOV/MOD")
	}
}

test_answer_moving_goods_of_the_partner_still_addressed if {
	via_cze := json.patch(trace_response("IT/GOV/MOD", ["NATO"]), [
		{"op": "add", "path": "/event/from", "value": "ALB"},
		{"op": "add", "path": "/event/to", "value": "CZE"},
	])
	denied_with(decide(cze, "pull", via_cze), "trace_response_not_addressed")
	allowed(decide(ita, "pull", via_cze))
}

test_liaison_sees_only_answers_to_its_requests if {
	allowed(decide(nato, "pull", trace_response("NATO/ORG/LIAISON", ["NATO"])))
	denied_with(decide(nato, "pull", trace_response("IT/GOV/MOD", ["NATO"])), "trace_response_not_addressed")
}

test_answer_label_still_applies if {
	denied_with(decide(ita, "pull", trace_response("IT/GOV/MOD", ["ALB"])), "not_releasable")
	confidential := json.patch(trace_response("IT/GOV/MOD", ["ALB", "ITA"]), [{"op": "replace", "path": "/label/classification", "value": "SECRET"}])
	denied_with(decide(ita, "pull", confidential), "clearance_insufficient")
}

test_answer_without_requester_reaches_no_partner if {
	d := decide(ita, "pull", json.remove(trace_response("IT/GOV/MOD", ["ALB", "ITA"]), ["event/trace/requester"]))
	denied_with(d, "trace_response_not_addressed")
}

test_albanian_institutions_see_every_answer if {
	allowed(decide(aim, "pull", trace_response("IT/GOV/MOD", ["ALB", "ITA"])))
	allowed(decide(mod, "pull", trace_response("IT/GOV/MOD", ["ALB", "ITA"])))
	allowed(decide(dpd, "pull", trace_response("IT/GOV/MOD", ["ALB", "ITA"])))
}

# A peer gateway is sent what its instance's institutions may see: the
# answer to an Italian request goes to Italy's gateway, not to Czechia's,
# and the gateway is sent its institutions' own requests.
czgw := object.union(itgw, {"member": "CZ/GOV/URA", "nation": "CZE"})

test_gateway_sent_answer_to_its_instance if allowed(decide(itgw, "pull", trace_response("IT/GOV/MOD", ["ALB", "ITA", "CZE"])))

test_gateway_not_sent_answer_to_another_instance if {
	d := decide(czgw, "pull", trace_response("IT/GOV/MOD", ["ALB", "ITA", "CZE"]))
	denied_with(d, "trace_response_not_addressed")
}

test_gateway_sent_its_institutions_requests if allowed(decide(itgw, "pull", trace_request("IT/GOV/MOD", ["ALB", "ITA"], "ALB")))

test_gateway_not_sent_events_outside_its_nation if {
	d := decide(itgw, "pull", trace_request("CZ/GOV/MOD", ["ALB", "ITA", "CZE"], "ALB"))
	denied_with(d, "outside_partner_scope")
}
