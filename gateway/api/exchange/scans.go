package exchange

import (
	"context"
	"encoding/json"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/deliveries"
	"github.com/ura-gateway/ura/gateway/records"

	"github.com/ura-gateway/ura/gateway/ratelimit"
)

// scanMeter charges a report or a work list for what it reads of the
// store (through meteredQuerier or meteredScan): in class pull, ReportScanCost per
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

// recordReader is the store's read of records (store.Store's Query), which
// the report and the review listing read through a meter.
type recordReader interface {
	Query(ctx context.Context, q store.Query, fn func(*records.Record, string) error) error
}

// queryFunc is a record read as a function: Handlers.query, the store's
// read under its store.query span, for the report and the review listing.
type queryFunc func(ctx context.Context, q store.Query, fn func(*records.Record, string) error) error

func (f queryFunc) Query(ctx context.Context, q store.Query, fn func(*records.Record, string) error) error {
	return f(ctx, q, fn)
}

// meteredQuerier is q with every record it reads paid for by meter first.
type meteredQuerier struct {
	q     recordReader
	meter *scanMeter
}

func (m meteredQuerier) Query(ctx context.Context, q store.Query, fn func(*records.Record, string) error) error {
	return m.q.Query(ctx, q, func(rec *records.Record, cursor string) error {
		if err := m.meter.next(); err != nil {
			return err
		}
		return fn(rec, cursor)
	})
}

// meteredScan is scan with every register entry it reads paid for by meter
// first.
func meteredScan(scan deliveries.Scan, meter *scanMeter) deliveries.Scan {
	return func(ctx context.Context, register string, fn func(key, recordID string, value json.RawMessage) error) error {
		return scan(ctx, register, func(key, recordID string, value json.RawMessage) error {
			if err := meter.next(); err != nil {
				return err
			}
			return fn(key, recordID, value)
		})
	}
}
