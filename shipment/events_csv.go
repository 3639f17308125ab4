package shipment

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/shiptrack/shiptrack/valid"
)

// eventColumns are the columns of an events file: the first four are
// required, the rest optional. Its status column holds the carrier's
// wording (an event's StatusText); the normalised status is derived.
var eventColumns = []string{"tracking_number", "carrier", "status", "occurred_at", "location", "message", "event_id"}

// EventCSVColumns returns the columns of an events file (a copy), the
// names an ImportError's Column may hold for one.
func EventCSVColumns() []string { return slices.Clone(eventColumns) }

// IsEventsCSV reports whether the file br starts is an events file rather
// than a shipments file: its header has an occurred_at column. It only
// peeks: br still starts at the header.
func IsEventsCSV(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Size())
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	b = bytes.TrimPrefix(b, []byte("\ufeff"))
	rec, err := csv.NewReader(bytes.NewReader(b)).Read()
	if err != nil {
		return false
	}
	for _, h := range rec {
		if strings.ToLower(strings.TrimSpace(h)) == "occurred_at" {
			return true
		}
	}
	return false
}

// ParseEventsCSV reads a whole events file (header
// tracking_number,carrier,status,occurred_at[,location,message,event_id],
// in any order) and validates every line before anything is written, as
// ParseCSV does: the first bad line is an *ImportError naming its line
// and column. occurred_at is RFC 3339 with an offset. Each event comes
// with the line it was read from, for the store's errors (an unknown
// shipment, a conflicting event id). Source is SourceImport; an empty
// event_id becomes the content's (Normalized), so importing the file
// again records nothing twice.
func ParseEventsCSV(r io.Reader) (events []EventInput, lines []int, err error) {
	cr, header, err := readCSVHeader(r)
	if err != nil {
		return nil, nil, err
	}
	idx := make([]int, len(eventColumns))
	for i := range idx {
		idx[i] = -1
	}
	for j, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		i := slices.Index(eventColumns, h)
		if i < 0 {
			continue
		}
		if idx[i] >= 0 {
			return nil, nil, &ImportError{Line: 1, Column: h, Err: errors.New("appears twice in the header")}
		}
		idx[i] = j
	}
	for i, name := range eventColumns[:4] {
		if idx[i] < 0 {
			return nil, nil, &ImportError{Line: 1, Column: name, Err: errors.New("missing from header")}
		}
	}
	now := time.Now()
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return events, lines, nil
		}
		if err != nil {
			return nil, nil, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		v := make([]string, len(eventColumns))
		for i, j := range idx {
			switch {
			case j < 0:
			case j >= len(rec) && i < 4:
				return nil, nil, &ImportError{Line: line, Column: eventColumns[i], Err: ErrMissingValue}
			case j < len(rec):
				v[i] = strings.TrimSpace(rec[j])
			}
		}
		for i, lim := range []int{csvLimits[0], csvLimits[1]} {
			if err := valid.Text(v[i], lim); err != nil {
				return nil, nil, &ImportError{Line: line, Column: eventColumns[i], Err: err}
			}
			if v[i] == "" {
				return nil, nil, &ImportError{Line: line, Column: eventColumns[i], Err: ErrMissingValue}
			}
		}
		var at time.Time
		if v[3] == "" {
			return nil, nil, &ImportError{Line: line, Column: "occurred_at", Err: ErrMissingValue}
		}
		if at, err = time.Parse(time.RFC3339Nano, v[3]); err != nil {
			return nil, nil, &ImportError{Line: line, Column: "occurred_at", Err: fmt.Errorf("%q is not RFC 3339 with an offset (2026-03-01T08:00:00+01:00)", v[3])}
		}
		e := EventInput{TrackingNumber: v[0], Carrier: v[1], Event: Event{
			EventID: v[6], OccurredAt: at, StatusText: v[2], Location: v[4], Message: v[5], Source: SourceImport,
		}}
		if field, err := e.Event.Validate(now); err != nil {
			if field == "status_text" {
				field = "status" // the file's name for it
			}
			return nil, nil, &ImportError{Line: line, Column: field, Err: err}
		}
		e.Event = e.Event.Normalized()
		events = append(events, e)
		lines = append(lines, line)
	}
}
