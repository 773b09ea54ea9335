// Package regindex is what both stores share of the register indexes
// besides their derivation (registers.Of): the check an export declaration
// passes inside the transaction that stores it.
package regindex

import (
	"fmt"
	"maps"
	"slices"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/registers"
)

// CheckExport decides an export declaration x against its licence lic (nil:
// not stored), exported (what the licence's category holds now, x's earlier
// version included) and prev (what x's earlier version counted, nil if
// none). The store holds the licence locked while it asks, so the answer is
// the same for every replica. Only status and quantity are checked here; the
// policy has already checked the rest (dates, type, destination, origin).
func CheckExport(x registers.Export, lic *registers.Licence, exported int64, prev *registers.Export) error {
	refuse := func(code string, sentinel error, format string, args ...any) error {
		return &store.LicenceError{Code: code, Message: fmt.Sprintf(format, args...), Err: sentinel}
	}
	if lic == nil {
		return refuse("licence_unknown", store.ErrLicenceNotInForce, "licence %s is not in the register of licences", x.Licence)
	}
	switch lic.Status {
	case "suspended":
		return refuse("licence_suspended", store.ErrLicenceNotInForce, "licence %s is suspended", x.Licence)
	case "revoked":
		return refuse("licence_revoked", store.ErrLicenceNotInForce, "licence %s has been revoked", x.Licence)
	case "expired":
		return refuse("licence_expired", store.ErrLicenceNotInForce, "licence %s has expired", x.Licence)
	}
	licensed, ok := lic.Items[x.Category]
	if !ok {
		return refuse("licence_category_not_covered", store.ErrLicenceExceeded, "licence %s covers no %s items", x.Licence, x.Category)
	}
	already := exported
	if prev != nil && prev.Licence == x.Licence && prev.Category == x.Category {
		already -= prev.Quantity
	}
	if already+x.Quantity > licensed {
		return refuse("licence_quantity_exceeded", store.ErrLicenceExceeded,
			"licence %s allows %d %s items; %d already exported, this declaration adds %d", x.Licence, licensed, x.Category, already, x.Quantity)
	}
	return nil
}

// CheckUsage decides one usage line against its licence lic (nil: not
// stored) and what is used of the line's category so far (stored usage and
// the batch's earlier lines), with the licence locked. A line is refused
// with a reason code, never an error: the batch applies its other lines.
func CheckUsage(l store.UsageLine, lic *registers.Licence, used int64) (code, msg string, ok bool) {
	switch {
	case lic == nil:
		return "licence_unknown", fmt.Sprintf("licence %s is not in the register of licences", l.LicenceID), false
	case lic.Status == "suspended":
		return "licence_suspended", fmt.Sprintf("licence %s is suspended", l.LicenceID), false
	case lic.Status == "revoked":
		return "licence_revoked", fmt.Sprintf("licence %s has been revoked", l.LicenceID), false
	case lic.Status == "expired":
		return "licence_expired", fmt.Sprintf("licence %s has expired", l.LicenceID), false
	case lic.Status != "issued" && lic.Status != "renewed":
		return "licence_not_in_force", fmt.Sprintf("licence %s has status %s", l.LicenceID, lic.Status), false
	// Dates are YYYY-MM-DD, so they compare as strings; a licence without
	// them is not shown to be in force.
	case lic.ValidFrom == "" || l.Date < lic.ValidFrom:
		return "licence_not_yet_valid", fmt.Sprintf("licence %s is valid only from %s, not on %s", l.LicenceID, lic.ValidFrom, l.Date), false
	case lic.ValidUntil == "" || l.Date > lic.ValidUntil:
		return "licence_expired", fmt.Sprintf("licence %s expired on %s, before %s", l.LicenceID, lic.ValidUntil, l.Date), false
	}
	licensed, covered := lic.Items[l.Category]
	if !covered {
		return "licence_category_not_covered", fmt.Sprintf("licence %s covers no %s items", l.LicenceID, l.Category), false
	}
	if used+l.Quantity > licensed {
		return "licence_quantity_exceeded", fmt.Sprintf("licence %s allows %d %s items; %d used, this line adds %d",
			l.LicenceID, licensed, l.Category, used, l.Quantity), false
	}
	return "", "", true
}

// UsageOf is a licence's usage per category: every licensed category, and
// any used that the licence (in a later version) no longer covers.
func UsageOf(lic *registers.Licence, used map[string]int64) store.LicenceUsage {
	out := store.LicenceUsage{LicenceID: lic.ID, Categories: []store.CategoryUsage{}}
	cats := map[string]bool{}
	for c := range lic.Items {
		cats[c] = true
	}
	for c := range used {
		cats[c] = true
	}
	for _, c := range slices.Sorted(maps.Keys(cats)) {
		out.Categories = append(out.Categories, store.CategoryUsage{Category: c, Licensed: lic.Items[c], Used: used[c], Remaining: lic.Items[c] - used[c]})
	}
	return out
}
