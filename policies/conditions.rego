package ura

# Licence conditions for small arms and light weapons (SALW): an export
# licence is issued only against the importing state's import authorisation,
# every transit state's written non-objection (UN Firearms Protocol art.
# 10(2); ATT art. 8 and 9) and the end user's certificate (ATT art. 11;
# Common Position 2008/944/CFSP), and each export declared under it is held
# to them again. The tables and their sources are data.ura_data.conditions;
# the registers are input.registers.import_authorisations,
# transit_authorisations, end_user_certificates and licence_conditions
# (gateway/ARCHITECTURE.md, "Policy contract").

salw_category(cat) if cat in data.ura_data.conditions.salw.categories

euc_category(cat) if cat in data.ura_data.conditions.end_user_certificate.categories

import_authorisation_required_to(_) if "*" in data.ura_data.conditions.import_authorisation.destinations

import_authorisation_required_to(destination) if destination in data.ura_data.conditions.import_authorisation.destinations

# A date is in a register entry's validity from the first day to the end of
# the last; an entry without both dates is in force on no day. day_start and
# day_end (lib.rego) are written out here: this runs for every register entry
# a push is checked against, and a function call costs more than its body.
in_force_on(entry, ns) if {
	ns >= time.parse_ns("2006-01-02", entry.valid_from)
	ns <= time.parse_ns("2006-01-02", entry.valid_until) + 86399999999999
}

# Licence push: the conditions apply to an export licence being issued or
# renewed; a version that suspends or revokes it is never held back by them.
deny contains refusal if {
	input.action == "push"
	input.record.kind == "licence"
	registered
	issuing_export_licence
	some refusal in licence_condition_refusals
}

# A peer's licence relayed here (relay.rego) is its own state's to condition.
issuing_export_licence if {
	originator_in_own_instance
	input.record.licence.type in data.ura_data.licence.export_types
	input.record.licence.status in data.ura_data.licence.valid_statuses
}

# The licensed quantity of each ML category.
licence_goods := {cat: q |
	some item in input.record.licence.items
	cat := item.ml_category
	q := sum([it.quantity | some it in input.record.licence.items; it.ml_category == cat])
}

# salw_category and euc_category written out, here and in needs_euc: a
# function call per category costs more than the test inside it.
licence_salw contains cat if {
	some cat, _ in licence_goods
	cat in data.ura_data.conditions.salw.categories
}

needs_transfer_authorisations if {
	count(licence_salw) > 0
	import_authorisation_required_to(input.record.licence.destination)
}

# What a refusal says of a document the licence should name: the one it
# names is not on the register, or it names none.
unregistered_ref(key) := sprintf("%v is not on the register", [input.record.licence[key]]) if {
	input.record.licence[key]
} else := "the licence names none"

# Import authorisation, named by the importing state's reference. Several
# states may use one reference: the entries under it are each checked.
licence_ia_entries := entries if {
	entries := input.registers.import_authorisations[input.record.licence.import_authorisation]
} else := {}

licence_condition_refusals contains reason("import_authorisation_missing", msg) if {
	needs_transfer_authorisations
	count(licence_ia_entries) == 0
	msg := sprintf("an export licence for %v to %v needs the importing state's import authorisation; %v", [concat(", ", sort(licence_salw)), rec(["licence", "destination"]), unregistered_ref("import_authorisation")])
}

licence_ia_fault contains [id, sprintf("is for %v, not %v", [ia.destination, input.record.licence.destination])] if {
	some id, ia in licence_ia_entries
	ia.destination != input.record.licence.destination
}

licence_ia_fault contains [id, sprintf("is not in force today (%v to %v)", [object.get(ia, "valid_from", "?"), object.get(ia, "valid_until", "?")])] if {
	some id, ia in licence_ia_entries
	not in_force_on(ia, time.now_ns())
}

licence_ia_fault contains [id, sprintf("covers %v %v items, not the %v licensed", [object.get(ia.items, cat, 0), cat, licence_goods[cat]])] if {
	some id, ia in licence_ia_entries
	some cat in licence_salw
	not object.get(ia.items, cat, 0) >= licence_goods[cat]
}

# An entry fits when licence_ia_fault finds nothing in it. Asked of the
# entry itself, without the fault set, whose messages only a refusal needs:
# each test is the body of one licence_ia_fault rule, with what the rule's
# message needs to be defined.
licence_ia_faulty(ia) if ia.destination != input.record.licence.destination

licence_ia_faulty(ia) if not in_force_on(ia, time.now_ns())

licence_ia_faulty(ia) if {
	some cat in licence_salw
	not object.get(ia.items, cat, 0) >= licence_goods[cat]
	_ := object.get(ia.items, cat, 0)
}

licence_ia_fits if {
	some ia in licence_ia_entries
	not licence_ia_faulty(ia)
}

licence_condition_refusals contains reason("import_authorisation_invalid", msg) if {
	needs_transfer_authorisations
	count(licence_ia_entries) > 0
	not licence_ia_fits
	msg := sprintf("import authorisation %v %s", [input.record.licence.import_authorisation, concat("; ", sort({f | some [_, f] in licence_ia_fault}))])
}

# Transit: a non-objection of every transit state the licence lists, for
# this licence, not yet expired.
transit_authorised(state) if {
	some entry in input.registers.transit_authorisations[concat("|", [input.record.id, state])]
	entry.transit_state == state
	time.now_ns() <= day_end(entry.valid_until)
}

licence_condition_refusals contains reason("transit_authorisation_missing", msg) if {
	needs_transfer_authorisations
	some state in object.get(input.record.licence, "transit", [])
	not transit_authorised(state)
	msg := sprintf("%v is a transit state of licence %v and has given no written non-objection in force", [state, rec(["id"])])
}

# End-user certificate, named by its record id.
needs_euc if {
	some cat, _ in licence_goods
	cat in data.ura_data.conditions.end_user_certificate.categories
}

licence_euc := input.registers.end_user_certificates[input.record.licence.end_user_certificate_id][input.record.licence.end_user_certificate_id]

licence_condition_refusals contains reason("euc_missing", msg) if {
	needs_euc
	not licence_euc
	msg := sprintf("an export licence for these goods is issued against the end user's certificate; %v", [unregistered_ref("end_user_certificate_id")])
}

licence_condition_refusals contains reason("euc_revoked", sprintf("end-user certificate %v has been revoked", [input.record.licence.end_user_certificate_id])) if {
	needs_euc
	licence_euc.status == "revoked"
}

# The same end user: by entity id when both name one, else by normalised
# name and country.
both_entity_ids(a, b) if {
	is_string(a.entity_id)
	is_string(b.entity_id)
}

# both_entity_ids written out: the end users compared are usually named
# by name, and this branch then fails before a function is called.
same_end_user(a, b) if {
	is_string(a.entity_id)
	is_string(b.entity_id)
	a.entity_id == b.entity_id
}

same_end_user(a, b) if {
	not both_entity_ids(a, b)
	normalise(a.name) == normalise(b.name)
	a.country == b.country
}

licence_condition_refusals contains reason("euc_end_user_mismatch", msg) if {
	needs_euc
	licence_euc
	not same_end_user(licence_euc.end_user, input.record.licence.end_user)
	msg := sprintf("end-user certificate %v names %v (%v) as end user, the licence %v (%v)", [
		input.record.licence.end_user_certificate_id,
		object.get(licence_euc.end_user, "name", "(none)"), object.get(licence_euc.end_user, "country", "?"),
		rec(["licence", "end_user", "name"]), rec(["licence", "end_user", "country"]),
	])
}

licence_condition_refusals contains reason("euc_goods_not_covered", msg) if {
	needs_euc
	licence_euc
	some cat, q in licence_goods
	not object.get(licence_euc.items, cat, 0) >= q
	msg := sprintf("end-user certificate %v covers %v %v items, the licence %v", [input.record.licence.end_user_certificate_id, object.get(licence_euc.items, cat, 0), cat, q])
}

# In force over the whole licence: issued by its first day, valid to its last.
euc_covers_licence if {
	licence_euc.issued_on <= input.record.licence.valid_from
	licence_euc.valid_until >= input.record.licence.valid_until
}

licence_condition_refusals contains reason("euc_not_valid", msg) if {
	needs_euc
	licence_euc
	not euc_covers_licence
	msg := sprintf("end-user certificate %v is valid from %v to %v, not over the licence's %v to %v", [input.record.licence.end_user_certificate_id, object.get(licence_euc, "issued_on", "?"), object.get(licence_euc, "valid_until", "?"), rec(["licence", "valid_from"]), rec(["licence", "valid_until"])])
}

licence_condition_refusals contains reason("euc_reexport_clause_missing", msg) if {
	needs_euc
	licence_euc
	not licence_euc.reexport_clause == true
	msg := sprintf("end-user certificate %v records no re-export clause", [input.record.licence.end_user_certificate_id])
}

# Export declarations (licence.rego's export_refusals): the conditions of
# the licence the declaration cites, as the register of licence conditions
# holds them, and the authorisations those name.
export_conditions := input.registers.licence_conditions[export_licence_id][export_licence_id]

licence_transit := t if {
	t := object.get(export_conditions, "transit", [])
} else := []

# The declaration's date, as written (its own offset). The schema has
# checked event.at against the calendar; an evaluation error would deny.
declared_on := day_start(substring(input.record.event.at, 0, 10))

export_refusals contains reason("transit_not_licensed", msg) if {
	some state in object.get(input.record.event, "transit", [])
	not state in licence_transit
	msg := sprintf("the shipment passes through %v, which licence %s does not list as a transit state", [state, export_licence_id])
}

# Each transit state the shipment passes through, and its licence lists,
# must still have given its written non-objection to this licence, in force
# on the declaration's date: one that has expired since the licence was
# issued puts the licence's exports of small arms through that state on
# hold, as a lapsed import authorisation does (UN Firearms Protocol art.
# 10(2); ATT art. 9). A state the licence does not list is refused above.
export_transit_authorised(state) if {
	some entry in input.registers.transit_authorisations[concat("|", [export_licence_id, state])]
	entry.transit_state == state
	entry.licence_id == export_licence_id
	in_force_on(entry, declared_on)
}

export_refusals contains reason("transit_authorisation_missing", msg) if {
	salw_category(export_category)
	some state in object.get(input.record.event, "transit", [])
	state in licence_transit
	not export_transit_authorised(state)
	msg := sprintf("%v has no written non-objection to licence %s in force on %v: its exports through %v are on hold", [state, export_licence_id, substring(input.record.event.at, 0, 10), state])
}

declaration_needs_ia if {
	salw_category(export_category)
	import_authorisation_required_to(input.record.event.to)
}

export_ia_entries := entries if {
	entries := input.registers.import_authorisations[export_conditions.import_authorisation]
} else := {}

export_refusals contains reason("import_authorisation_missing", msg) if {
	declaration_needs_ia
	export_licence
	count(export_ia_entries) == 0
	msg := sprintf("licence %s names no import authorisation on the register for this export of %v", [export_licence_id, export_category])
}

export_ia_fault contains [id, sprintf("is for %v, not %v", [ia.destination, input.record.event.to])] if {
	some id, ia in export_ia_entries
	ia.destination != input.record.event.to
}

export_ia_fault contains [id, sprintf("is not in force on %v (%v to %v)", [substring(input.record.event.at, 0, 10), object.get(ia, "valid_from", "?"), object.get(ia, "valid_until", "?")])] if {
	some id, ia in export_ia_entries
	not in_force_on(ia, declared_on)
}

export_ia_fault contains [id, sprintf("covers %v %v items; %v already exported, this declaration adds %v", [object.get(ia.items, export_category, 0), export_category, already_exported, export_quantity])] if {
	some id, ia in export_ia_entries
	not object.get(ia.items, export_category, 0) >= already_exported + export_quantity
}

# As licence_ia_faulty: each test is the body of one export_ia_fault rule,
# with what that rule's message needs to be defined.
export_ia_faulty(ia) if ia.destination != input.record.event.to

export_ia_faulty(ia) if {
	not in_force_on(ia, declared_on)
	_ := substring(input.record.event.at, 0, 10)
}

export_ia_faulty(ia) if {
	not object.get(ia.items, export_category, 0) >= already_exported + export_quantity
	_ := [object.get(ia.items, export_category, 0), export_category, already_exported, export_quantity]
}

export_ia_fits if {
	some ia in export_ia_entries
	not export_ia_faulty(ia)
}

export_refusals contains reason("import_authorisation_invalid", msg) if {
	declaration_needs_ia
	count(export_ia_entries) > 0
	not export_ia_fits
	msg := sprintf("import authorisation %v %s", [export_conditions.import_authorisation, concat("; ", sort({f | some [_, f] in export_ia_fault}))])
}

# A certificate revoked, or expired, after the licence was issued puts the
# licence's exports of these goods on hold.
declaration_needs_euc if euc_category(export_category)

export_euc := input.registers.end_user_certificates[export_conditions.end_user_certificate][export_conditions.end_user_certificate]

export_refusals contains reason("euc_missing", msg) if {
	declaration_needs_euc
	export_licence
	not export_euc
	msg := sprintf("licence %s names no end-user certificate on the register for this export of %v", [export_licence_id, export_category])
}

export_refusals contains reason("euc_revoked", msg) if {
	declaration_needs_euc
	export_euc.status == "revoked"
	msg := sprintf("end-user certificate %v of licence %s has been revoked: its exports are on hold", [export_conditions.end_user_certificate, export_licence_id])
}

export_refusals contains reason("euc_not_valid", msg) if {
	declaration_needs_euc
	export_euc
	not declared_on <= day_start(export_euc.valid_until)
	msg := sprintf("end-user certificate %v of licence %s was valid until %v", [export_conditions.end_user_certificate, export_licence_id, object.get(export_euc, "valid_until", "?")])
}
