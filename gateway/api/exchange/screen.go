package exchange

import (
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"
	"github.com/ura-gateway/ura/gateway/screening"
)

// screen puts into a licence's decision input what the fuzzy matcher finds
// of its parties (input.registers.screening): the denials of its
// destination and categories and the excluded entities its register read
// returned, and the sanctions list in force. The policy decides on them
// (gateway/ARCHITECTURE.md, "Name matching").
func (ps *pusher) screen(rec *records.Record, regs *registers.Snapshot) {
	if rec.Kind != records.KindLicence {
		return
	}
	regs.Screening = screening.Licence(rec, screening.CandidatesOf(regs, ps.deps.Sanctions.Current())).Doc()
}
