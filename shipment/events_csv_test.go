package shipment

import (
	"bufio"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/valid"
)

func TestIsEventsCSV(t *testing.T) {
	for file, want := range map[string]bool{
		"tracking_number,carrier,status,occurred_at\nTN1,DHL,x,2026-03-01T08:00:00Z\n":                                     true,
		"\ufeff\"Occurred_At\",carrier,tracking_number,status\n":                                                           true,
		"tracking_number,carrier,sender_address,receiver_address,article_name,article_quantity,article_price,sku,status\n": false,
		"": false,
	} {
		if got := IsEventsCSV(bufio.NewReader(strings.NewReader(file))); got != want {
			t.Errorf("IsEventsCSV(%q) = %v", file, got)
		}
	}
}

func TestParseEventsCSV(t *testing.T) {
	evs, lines, err := ParseEventsCSV(strings.NewReader("occurred_at,carrier,tracking_number,status,extra\n" +
		"2026-03-01T08:00:00.1234567+01:00,DHL,tn 1,delivery,ignored\n\n" +
		"2026-03-01T09:00:00Z,UPS,T2,Weird\n"))
	if err != nil || len(evs) != 2 || lines[0] != 2 || lines[1] != 4 {
		t.Fatalf("%+v %v %v", evs, lines, err)
	}
	e := evs[0]
	if e.Carrier != "DHL" || e.TrackingNumber != "tn 1" || e.Status != StatusOutForDelivery || e.StatusText != "delivery" ||
		!e.OccurredAt.Equal(time.Date(2026, 3, 1, 7, 0, 0, 123456000, time.UTC)) || e.OccurredAt.Location() != time.UTC ||
		e.Source != SourceImport || e.EventID != e.ContentID() {
		t.Errorf("first event %+v", e)
	}
	if evs[1].Status != DefaultStatus {
		t.Errorf("unknown wording normalised to %q", evs[1].Status)
	}
	for _, c := range []struct {
		name, file, column string
		line               int
		is                 error
	}{
		{"missing column", "tracking_number,carrier,status\n", "occurred_at", 1, nil},
		{"twice", "tracking_number,carrier,status,occurred_at,status\n", "status", 1, nil},
		{"short row", "tracking_number,carrier,status,occurred_at\nT1,DHL,x\n", "occurred_at", 2, ErrMissingValue},
		{"no offset", "tracking_number,carrier,status,occurred_at\nT1,DHL,x,2026-03-01T08:00:00\n", "occurred_at", 2, nil},
		{"not a time", "tracking_number,carrier,status,occurred_at\nT1,DHL,x,yesterday\n", "occurred_at", 2, nil},
		{"no carrier", "tracking_number,carrier,status,occurred_at\nT1,,x,2026-03-01T08:00:00Z\n", "carrier", 2, ErrMissingValue},
		{"long message", "tracking_number,carrier,status,occurred_at,message\nT1,DHL,x,2026-03-01T08:00:00Z," + strings.Repeat("m", valid.Message+1) + "\n", "message", 2, valid.ErrTooLong},
		{"long event id", "tracking_number,carrier,status,occurred_at,event_id\nT1,DHL,x,2026-03-01T08:00:00Z," + strings.Repeat("e", valid.EventID+1) + "\n", "event_id", 2, valid.ErrTooLong},
		{"NUL in location", "tracking_number,carrier,status,occurred_at,location\nT1,DHL,x,2026-03-01T08:00:00Z,a\x00b\n", "location", 2, valid.ErrControl},
	} {
		_, _, err := ParseEventsCSV(strings.NewReader(c.file))
		var ie *ImportError
		if !errors.As(err, &ie) || ie.Line != c.line || ie.Column != c.column || (c.is != nil && !errors.Is(err, c.is)) {
			t.Errorf("%s: %v; want line %d column %s", c.name, err, c.line, c.column)
		}
	}
}

func TestEventValidate(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	ok := Event{OccurredAt: now, StatusText: "x"}
	if f, err := ok.Validate(now); err != nil {
		t.Fatalf("%s: %v", f, err)
	}
	for field, e := range map[string]Event{
		"status_text": {OccurredAt: now, StatusText: " "},
		"status":      {OccurredAt: now, StatusText: "x", Status: "in-transit"},
		"occurred_at": {OccurredAt: now.Add(25 * time.Hour), StatusText: "x"},
		"source":      {OccurredAt: now, StatusText: "x", Source: "mail"},
		"location":    {OccurredAt: now, StatusText: "x", Location: strings.Repeat("l", valid.EventLocation+1)},
	} {
		if f, err := e.Validate(now); f != field || err == nil {
			t.Errorf("%+v: %s, %v; want %s", e, f, err, field)
		}
	}
	if _, err := (Event{StatusText: "x"}).Validate(now); !errors.Is(err, ErrMissingValue) {
		t.Errorf("zero time: %v", err)
	}
}
