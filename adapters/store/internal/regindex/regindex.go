// Package regindex is what both stores share of the register indexes
// besides their derivation (registers.Of): the check an export declaration
// passes inside the transaction that stores it.
package regindex

import (
	"fmt"

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
