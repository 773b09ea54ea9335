# Callers, records and registers shared by the policy tests.
package ura_test

now := time.parse_rfc3339_ns("2026-06-02T08:00:00Z")

aim := {"member": "AL/GOV/AIM", "nation": "ALB", "kind": "agency", "clearance": "SECRET", "roles": ["licensing"]}

mod := {"member": "AL/GOV/MOD", "nation": "ALB", "kind": "ministry", "clearance": "SECRET", "roles": []}

dpd := {"member": "AL/GOV/DPD", "nation": "ALB", "kind": "customs", "clearance": "RESTRICTED", "roles": ["declarations"]}

ita := {"member": "IT/GOV/MOD", "nation": "ITA", "kind": "partner", "clearance": "CONFIDENTIAL", "roles": ["tracing"]}

nato := {"member": "NATO/ORG/LIAISON", "nation": "NATO", "kind": "liaison", "clearance": "SECRET", "roles": []}

auditor := {"member": "AL/GOV/AUDIT", "nation": "ALB", "kind": "auditor", "clearance": "SECRET", "roles": ["audit"]}

# Italy's ura gateway, a peer relaying what Italian institutions push to it.
itgw := {"member": "IT/GOV/URA", "nation": "ITA", "kind": "gateway", "clearance": "CONFIDENTIAL", "roles": []}

# A partner ministry of any nation, e.g. Czechia's (CZ/GOV/MOD).
partner_of(nation, member) := {"member": member, "nation": nation, "kind": "partner", "clearance": "SECRET", "roles": []}

cze := partner_of("CZE", "CZ/GOV/MOD")

label(classification, releasable, originator) := {
	"classification": classification,
	"releasable_to": releasable,
	"originator": originator,
	"created": "2026-05-01T10:00:00Z",
}

licence := {
	"kind": "licence",
	"id": "AIM-LIC-2026-000123",
	"version": 3,
	"label": label("RESTRICTED", ["ALB", "NATO"], "AL/GOV/AIM"),
	"licence": {
		"type": "export",
		"status": "issued",
		"holder": {"entity_id": "L61234567A", "name": "KAYO sh.a."},
		"valid_from": "2026-05-01",
		"valid_until": "2027-04-30",
		"items": [
			{"ml_category": "ML3", "description": "7.62x39mm cartridges", "quantity": 200000, "unit": "rounds"},
			{"ml_category": "ML1", "description": "assault rifles", "quantity": 500, "unit": "pieces"},
		],
		"end_user": {
			"name": "Ministry of Defence",
			"country": "CZE",
			"contact": {"name": "Jana Novákova", "email": "jana.novakova@example.cz"},
		},
		"destination": "CZE",
		"transit": ["HRV"],
		"import_authorisation": "CZ-IA-2026-0001",
		"end_user_certificate_id": "AIM-EUC-2026-0001",
		"contract_value": {"amount": 1840000, "currency": "EUR"},
	},
}

export_event := {
	"kind": "tracking_event",
	"id": "DPD-EVT-2026-9000001",
	"version": 1,
	"label": label("UNCLASSIFIED", ["ALB", "CZE"], "AL/GOV/DPD"),
	"event": {
		"type": "EXPORT_DECLARED",
		"at": "2026-06-02T07:55:00Z",
		"item": {
			"marking": {"manufacturer": "KAYO", "country": "ALB", "serial": "K26-000123", "year": 2026},
			"ml_category": "ML1",
		},
		"quantity": 100,
		"licence_id": "AIM-LIC-2026-000123",
		"from": "ALB",
		"to": "CZE",
		"customs_declaration": "EX-2026-000456",
	},
}

aim_event(type) := {
	"kind": "tracking_event",
	"id": "AIM-EVT-2026-0000001",
	"version": 1,
	"label": label("UNCLASSIFIED", ["ALB"], "AL/GOV/AIM"),
	"event": {
		"type": type,
		"at": "2026-06-01T07:55:00Z",
		"item": {"marking": {"manufacturer": "KAYO", "country": "ALB", "serial": "K26-000123", "year": 2026}, "ml_category": "ML1"},
	},
}

# with_originator moves a record to another originator, its id included: an
# id begins with its originator's namespace (push.rego, "Record ids").
with_originator(record, member) := json.patch(record, [
	{"op": "replace", "path": "/label/originator", "value": member},
	{"op": "replace", "path": "/id", "value": concat("", [data.ura.id_prefixes(member)[0], "X-", record.id])},
])

# input.registers as the gateway reads them for the licence above.
licence_register := {
	"id": "AIM-LIC-2026-000123",
	"version": 3,
	"originator": "AL/GOV/AIM",
	"type": "export",
	"status": "issued",
	"valid_from": "2026-05-01",
	"valid_until": "2027-04-30",
	"destination": "CZE",
	"holder": {"entity_id": "L61234567A", "name": "KAYO sh.a."},
	"end_user": {"name": "Ministry of Defence", "country": "CZE"},
	"items": {"ML3": 200000, "ML1": 500},
}

registers := {
	"licences": {"AIM-LIC-2026-000123": licence_register},
	"entities": {
		"L61234567A": {"record_id": "AIM-ENT-L61234567A", "name": "KAYO sh.a.", "status": "active"},
		"K99999999Z": {"record_id": "AIM-ENT-K99999999Z", "name": "Shadow Arms sh.p.k.", "status": "suspended"},
	},
	"excluded": {
		"by_id": {"K99999999Z": {"AIM-EXC-1": {"record_id": "AIM-EXC-1", "from": "2025-01-01"}}},
		"by_name": {"shadow arms sh p k": {"AIM-EXC-1": {"record_id": "AIM-EXC-1", "from": "2025-01-01"}}},
	},
	"exported": {"AIM-LIC-2026-000123": {"ML1": 300}},
	"import_authorisations": {"CZ-IA-2026-0001": {"AIM-IA-2026-0001": import_authorisation_register}},
	"transit_authorisations": {"AIM-LIC-2026-000123|HRV": {"AIM-TA-2026-0001": {
		"record_id": "AIM-TA-2026-0001", "transit_state": "HRV", "licence_id": "AIM-LIC-2026-000123",
		"valid_from": "2026-05-01", "valid_until": "2027-04-30",
	}}},
	"end_user_certificates": {"AIM-EUC-2026-0001": {"AIM-EUC-2026-0001": euc_register}},
	"licence_conditions": {"AIM-LIC-2026-000123": {"AIM-LIC-2026-000123": {
		"import_authorisation": "CZ-IA-2026-0001",
		"end_user_certificate": "AIM-EUC-2026-0001",
		"transit": ["HRV"],
	}}},
}

# The importing state's authorisation and the end user's certificate the
# licence above is issued against, as the registers hold them.
import_authorisation_register := {
	"record_id": "AIM-IA-2026-0001",
	"reference": "CZ-IA-2026-0001",
	"destination": "CZE",
	"valid_from": "2026-04-01",
	"valid_until": "2027-04-30",
	"items": {"ML1": 500},
}

euc_register := {
	"record_id": "AIM-EUC-2026-0001",
	"status": "valid",
	"end_user": {"name": "Ministry of Defence", "country": "CZE"},
	"country": "CZE",
	"issued_on": "2026-04-15",
	"valid_until": "2027-12-31",
	"items": {"ML3": 200000, "ML1": 500},
	"reexport_clause": true,
}

registers_with_licence(patch) := json.patch(registers, [{"op": "add", "path": "/licences/AIM-LIC-2026-000123", "value": object.union(licence_register, patch)}])

codes(d) := {r.code | some r in d.reasons}

decide(caller, action, record) := d if {
	d := data.ura.decision with input as {"caller": caller, "action": action, "record": record, "previous": null}
		with input.registers as registers
		with time.now_ns as now
}

decide_prev(caller, record, previous) := d if {
	d := data.ura.decision with input as {"caller": caller, "action": "push", "record": record, "previous": previous}
		with input.registers as registers
		with time.now_ns as now
}

decide_regs(caller, record, regs) := d if {
	d := data.ura.decision with input as {"caller": caller, "action": "push", "record": record, "previous": null}
		with input.registers as regs
		with time.now_ns as now
}

allowed(d) if {
	d.allow == true
	count([r | some r in d.reasons; r.code != "redacted"]) == 0
}

denied_with(d, code) if {
	d.allow == false
	code in codes(d)
}
