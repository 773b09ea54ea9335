# Relays. A peer ura gateway is a member of kind "gateway": it pushes the
# records that institutions of its own instance pushed to it, each one
# signed by that gateway and verified before policy sees it
# (gateway/federation). The record keeps its originator's name; the caller
# is the gateway. What a gateway may relay:
#
#   - only the kinds, and the tracking event types, listed in
#     data.ura_data.relay_kinds (relay_kind_not_permitted);
#   - only records whose label.originator is another member of the
#     gateway's own instance, the first segment of its member ID: IT/GOV/URA
#     relays IT/GOV/MOD's records, never CZ/GOV/MOD's and never one in its
#     own name (relay_originator_outside_peer);
#   - never a record in the name of an institution of this gateway's own
#     instance, data.ura_data.own_instance, which a peer could otherwise use
#     to speak for them (relay_originator_own_instance).
#
# Everything else any push meets applies to a relay too: the id namespace
# (the originator's), the stored version's originator, no label downgrade
# (push.rego), excluded entities. The gateway checks the same originator
# rule before policy is asked (federation.Relay.MayOriginate, through
# policy.RelayOriginator on the same table).
package ura

# The rules that apply to relays only test input.caller.kind in their
# own bodies rather than ask relaying: OPA's rule index keys on that
# equality, so that no other caller's record evaluates them.
relaying if input.caller.kind == "gateway"

relay_kind_permitted if data.ura_data.relay_kinds[input.record.kind] == true

relay_kind_permitted if {
	input.record.kind == "tracking_event"
	types := data.ura_data.relay_kinds.tracking_event
	is_array(types)
	input.record.event.type in types
}

deny contains reason("relay_kind_not_permitted", msg) if {
	input.action == "push"
	registered
	input.caller.kind == "gateway"
	not relay_kind_permitted
	msg := sprintf("a peer gateway does not relay %s records; %v may push them only to its own gateway", [pushed_what, who("member")])
}

# The instance of a member ID: its first segment (IT of IT/GOV/MOD).
# Undefined for anything that is not INSTANCE/CLASS/CODE.
instance_of(member) := parts[0] if {
	is_string(member)
	parts := split(member, "/")
	count(parts) == 3
	parts[0] != ""
}

# instance_of written out: asked of nearly every push, where a function
# call costs more than the test inside it.
originator_in_own_instance if {
	is_string(input.record.label.originator)
	parts := split(input.record.label.originator, "/")
	count(parts) == 3
	parts[0] != ""
	parts[0] == data.ura_data.own_instance
}

originator_in_peer_instance if {
	instance_of(input.record.label.originator) == instance_of(input.caller.member)
	not originator_is_caller
}

deny contains reason("relay_originator_own_instance", msg) if {
	input.action == "push"
	registered
	input.caller.kind == "gateway"
	originator_in_own_instance
	msg := sprintf("%v names %v as originator, an institution of this gateway's own instance %v; no peer gateway relays for it", [
		rec(["id"]), rec(["label", "originator"]), data.ura_data.own_instance,
	])
}

deny contains reason("relay_originator_outside_peer", msg) if {
	input.action == "push"
	registered
	input.caller.kind == "gateway"
	not originator_in_own_instance
	not originator_in_peer_instance
	msg := sprintf("%v names %v as originator; peer gateway %v relays only for the other members of its own instance", [
		rec(["id"]), rec(["label", "originator"]), who("member"),
	])
}
