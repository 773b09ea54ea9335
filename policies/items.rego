# Item states (International Tracing Instrument; UN Firearms Protocol
# art. 7, records, and art. 9, deactivation). Every tracking event about a
# marked item, other than a trace request or response, puts an entry on the
# keyed register `items` under the item's key, the marking as the trace
# route names it: "<country>|<manufacturer>|<serial>". Each entry is
# {type, at} by record id, `at` the event time in UTC with nine fraction
# digits, so that strings sort as times (gateway/ARCHITECTURE.md, "Item
# states").
#
# The item's state is that of its latest event, by event time, ties by the
# higher record id, mapped by data.ura_data.item_states (in_stock,
# exported, imported, lost, stolen, recovered events back to in_stock,
# deactivated, destroyed). The record being decided is left out: a new
# version of an event replaces that event's entry, it does not follow it.
#
# These refusals apply to events in the name of an institution of this
# gateway's own instance, whose register this is. A partner's or a peer's
# event (a delivery confirmation, an import declared abroad) states what
# the other state saw; it is never refused on the state of an item here,
# which its sender may not see and must not learn by pushing.
package ura

item_key := concat("|", [m.country, m.manufacturer, m.serial]) if {
	m := input.record.event.item.marking
}

# Arrays compare element by element, so the largest is the latest event,
# ties by record id.
item_latest := max({[e.at, id, e.type] |
	some id, e in input.registers.items[item_key]
	id != input.record.id
})

item_state := data.ura_data.item_states[item_latest[2]]

item_state_text := item_state if {
	is_string(item_state)
} else := "unknown to the register of items"

# Out of service: an item in one of these states is neither declared for
# export nor transferred.
out_of_service := {"lost": "item_lost", "stolen": "item_stolen", "deactivated": "item_deactivated"}

item_moves if input.record.event.type in {"EXPORT_DECLARED", "TRANSFERRED"}

item_destroyed if item_state == "destroyed"

item_missing if item_state in {"lost", "stolen"}

deny contains refusal if {
	input.action == "push"
	input.record.kind == "tracking_event"
	registered
	data.ura_data.item_states[input.record.event.type]
	originator_in_own_instance
	some refusal in item_refusals
}

item_refusals contains reason(code, msg) if {
	item_moves
	code := out_of_service[item_state]
	msg := sprintf("item %s is reported %s; it is neither declared for export nor transferred", [item_key, item_state])
}

# Nothing follows destruction, whatever its time.
item_refusals contains reason("item_destroyed", msg) if {
	item_destroyed
	msg := sprintf("item %s has been destroyed; no event follows its destruction", [item_key])
}

# RECOVERED returns a lost or stolen item to service, and only such an item.
item_refusals contains reason("item_not_missing", msg) if {
	input.record.event.type == "RECOVERED"
	not item_missing
	not item_destroyed
	msg := sprintf("item %s is %s, not reported lost or stolen; only a missing item is recovered", [item_key, item_state_text])
}

# EXIT_CONFIRMED: customs confirms that goods left through the border. It
# must match the EXPORT_DECLARED of the same customs declaration number
# (keyed register `declarations`): the same item, the same licence when the
# exit names one, the same quantity. One that does not is stored, since the
# goods did leave and the register must say so, with its reason in the
# decision (allow with a flag): the signed result and the audit event carry
# it, and the audit log is searched by it (reason=exit_without_declaration).
exit_declarations contains e if {
	some id, e in input.registers.declarations[input.record.event.customs_declaration]
	e.type == "EXPORT_DECLARED"
	id != input.record.id
}

exit_declared if some _ in exit_declarations

exit_licence_matches(_) if not input.record.event.licence_id

exit_licence_matches(e) if e.licence_id == input.record.event.licence_id

exit_matches if {
	some e in exit_declarations
	e.item == item_key
	exit_licence_matches(e)
	e.quantity == object.get(input.record.event, "quantity", 1)
}

# The notes below test an exit confirmed here in their own bodies, not
# through a rule: equalities on the input in a rule's body are what OPA's
# rule index keys on, so that every other record skips them unasked.
notes contains reason("exit_without_declaration", msg) if {
	input.action == "push"
	input.record.kind == "tracking_event"
	input.record.event.type == "EXIT_CONFIRMED"
	registered
	not exit_declared
	msg := sprintf("no export is declared under customs declaration %v; the exit is stored and flagged", [rec(["event", "customs_declaration"])])
}

notes contains reason("exit_declaration_mismatch", msg) if {
	input.action == "push"
	input.record.kind == "tracking_event"
	input.record.event.type == "EXIT_CONFIRMED"
	registered
	exit_declared
	not exit_matches
	msg := sprintf("customs declaration %v declares no export of item %v with this licence and quantity; the exit is stored and flagged", [rec(["event", "customs_declaration"]), item_key])
}

# DELIVERY_CONFIRMED (UN Firearms Protocol art. 10(4); ATT art. 8(1)): the
# importing state confirms that an export arrived, pushed by its member or
# relayed by its gateway. Only the state the goods went to confirms it. It
# is not checked against the declarations here, so that a partner learns
# nothing of them by pushing; it closes the export whose declaration has its
# customs declaration number and destination (Deliveries).
delivery_from_importer if input.record.event.to == input.caller.nation

deny contains reason("delivery_not_from_importer", msg) if {
	input.action == "push"
	input.record.kind == "tracking_event"
	input.record.event.type == "DELIVERY_CONFIRMED"
	registered
	not delivery_from_importer
	msg := sprintf("a delivery to %v is confirmed by the importing state; %v is of %v", [rec(["event", "to"]), who("member"), who("nation")])
}
