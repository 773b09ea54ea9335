package exchange

import (
	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/gateway/ratelimit"
)

// scanMeter charges a work list for what it reads of the store, as a
// report pays for its scan (paidSource): in class pull, ReportScanCost per
// scan of up to Chunk stored entries, the first paid before the store is
// read (start) and each next one before its first entry is used (next).
// A refused charge is the error the scan ends with, so a list is handed
// at most one entry it has not paid for, and uses none.
//
// Only for a scan whose every entry the caller may know of, or one that
// walks the same stored records a stream of the caller's own would scan:
// the charge follows how many entries there are, withheld ones included
// (gateway/ARCHITECTURE.md, "Work lists").
type scanMeter struct {
	pay        func(total int) error
	read, paid int
}

// newScanMeter meters a scan for the request of c.
func (h *Handlers) newScanMeter(c *gin.Context) *scanMeter {
	return &scanMeter{pay: func(entries int) error {
		return h.kit.ChargeMore(c, ratelimit.ClassPull, entries/Chunk*ReportScanCost)
	}}
}

// start pays the first scan, before the store is read.
func (m *scanMeter) start() error {
	if err := m.pay(Chunk); err != nil {
		return err
	}
	m.paid = Chunk
	return nil
}

// next is called for each entry read, before it is used.
func (m *scanMeter) next() error {
	if m.read == m.paid {
		if err := m.pay(m.paid + Chunk); err != nil {
			return err
		}
		m.paid += Chunk
	}
	m.read++
	return nil
}
