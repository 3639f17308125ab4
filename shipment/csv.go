package shipment

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/shiptrack/shiptrack/valid"
)

// ShipmentInput is one shipment as read from an import file.
type ShipmentInput struct {
	Line            int // line of its first row, for messages
	TrackingNumber  string
	Carrier         string
	Status          string
	SenderAddress   string
	ReceiverAddress string
	Articles        []Article
}

// ImportError names the line and column of a bad CSV row.
type ImportError struct {
	Line   int
	Column string
	Err    error
}

func (e *ImportError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("line %d: column %s: %v", e.Line, e.Column, e.Err)
}

func (e *ImportError) Unwrap() error { return e.Err }

// Errors wrapped by ImportError.
var (
	ErrMissingValue = errors.New("missing value")
	ErrBadNumber    = errors.New("not a positive whole number")
	ErrConflict     = errors.New("differs from an earlier row of the same shipment")
)

// csvColumns are the columns of an import file, in the seed's order; the
// header may list them in any order.
var csvColumns = []string{
	"tracking_number", "carrier", "sender_address", "receiver_address",
	"article_name", "article_quantity", "article_price", "sku", "status",
}

// csvLimits are the longest text each of csvColumns may hold (see
// package valid); the quantity and price are numbers, parsed strictly, and
// only checked to be text.
var csvLimits = []int{
	valid.TrackingNumber, valid.Carrier, valid.Address, valid.Address,
	valid.ArticleName, 32, 32, valid.SKU, valid.Status,
}

// readCSVHeader starts reading a CSV file of either kind: the reader, set
// up for records of any length, and the header line.
func readCSVHeader(r io.Reader) (*csv.Reader, []string, error) {
	// Drop a UTF-8 byte-order mark before the CSV reader sees it, or a
	// quoted first header cell reads as a bare quote.
	br := bufio.NewReader(r)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, &ImportError{Line: 1, Err: errors.New("empty file: no header")}
	}
	if err != nil {
		return nil, nil, csvError(err)
	}
	return cr, header, nil
}

// CSVRow is one validated row of a shipments file, values trimmed.
type CSVRow struct {
	Line            int
	TrackingNumber  string
	Carrier         string
	Status          string
	SenderAddress   string
	ReceiverAddress string
	Article         Article
}

// ScanCSV reads a shipments file row by row, validating each row alone
// and handing it to fn; it keeps nothing, so a file of any size reads in
// constant memory. Rules across rows (those of one shipment agreeing) are
// the caller's: ParseCSV checks them in memory, the store in SQL. The
// first bad row, or fn's first error, ends the scan.
func ScanCSV(r io.Reader, fn func(CSVRow) error) error {
	cr, header, err := readCSVHeader(r)
	if err != nil {
		return err
	}
	col := make(map[string]int, len(header))
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if _, dup := col[h]; dup && slices.Contains(csvColumns, h) {
			// Which of the two holds the data is a guess: refuse it.
			return &ImportError{Line: 1, Column: h, Err: errors.New("appears twice in the header")}
		}
		col[h] = i
	}
	idx := make([]int, len(csvColumns))
	for i, name := range csvColumns {
		j, ok := col[name]
		if !ok {
			return &ImportError{Line: 1, Column: name, Err: errors.New("missing from header")}
		}
		idx[i] = j
	}

	v := make([]string, len(csvColumns))
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return csvError(err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		for i, j := range idx {
			if j >= len(rec) {
				return &ImportError{Line: line, Column: csvColumns[i], Err: ErrMissingValue}
			}
			v[i] = strings.TrimSpace(rec[j])
			if err := valid.Text(v[i], csvLimits[i]); err != nil {
				return &ImportError{Line: line, Column: csvColumns[i], Err: err}
			}
		}
		for _, i := range []int{0, 1, 3, 4, 5, 6, 8} { // sender and SKU may be blank
			if v[i] == "" {
				return &ImportError{Line: line, Column: csvColumns[i], Err: ErrMissingValue}
			}
		}
		if err := checkLocation(v[3]); err != nil {
			return &ImportError{Line: line, Column: "receiver_address", Err: err}
		}
		qty, err := strconv.Atoi(v[5])
		if err != nil || qty <= 0 {
			return &ImportError{Line: line, Column: "article_quantity", Err: fmt.Errorf("%q: %w", v[5], ErrBadNumber)}
		}
		price, err := ParseMoney(v[6])
		if err != nil {
			return &ImportError{Line: line, Column: "article_price", Err: err}
		}
		if err := fn(CSVRow{
			Line: line, TrackingNumber: v[0], Carrier: v[1], SenderAddress: v[2], ReceiverAddress: v[3], Status: v[8],
			Article: Article{Name: v[4], Quantity: qty, Price: price, SKU: v[7]},
		}); err != nil {
			return err
		}
	}
}

// ConflictError is the error of a row that disagrees with the first row
// of its shipment (line first) on column.
func ConflictError(line int, column, got string, first int) *ImportError {
	return &ImportError{Line: line, Column: column, Err: fmt.Errorf("%q %w (line %d)", got, ErrConflict, first)}
}

// ParseCSV reads a whole import file into memory and validates every row
// before anything is written, so a bad row can abort the import cleanly.
// Rows with the same carrier (any case) and tracking number (any case and
// spacing) form one shipment. The store's importer streams instead
// (ScanCSV); this is for small files and tests.
func ParseCSV(r io.Reader) ([]ShipmentInput, error) {
	var out []ShipmentInput
	byKey := make(map[shipmentKey]int)
	err := ScanCSV(r, func(row CSVRow) error {
		key := shipmentKey{CarrierKey(row.Carrier), NormalizeTrackingNumber(row.TrackingNumber)}
		if k, ok := byKey[key]; ok {
			s := &out[k]
			for _, c := range []struct {
				name, got, want string
			}{{"sender_address", row.SenderAddress, s.SenderAddress}, {"receiver_address", row.ReceiverAddress, s.ReceiverAddress}, {"status", row.Status, s.Status}} {
				if c.got != c.want {
					return ConflictError(row.Line, c.name, c.got, s.Line)
				}
			}
			s.Articles = append(s.Articles, row.Article)
			return nil
		}
		byKey[key] = len(out)
		out = append(out, ShipmentInput{
			Line: row.Line, TrackingNumber: row.TrackingNumber, Carrier: row.Carrier, SenderAddress: row.SenderAddress,
			ReceiverAddress: row.ReceiverAddress, Status: row.Status, Articles: []Article{row.Article},
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkLocation checks that the location parsed from a receiver address
// fits the locations table; an address that has no location passes.
func checkLocation(address string) error {
	l, ok := ParseLocation(address)
	if !ok {
		return nil
	}
	for _, p := range []struct {
		name string
		v    string
		max  int
	}{{"postal code", l.PostalCode, valid.PostalCode}, {"city", l.City, valid.City}, {"country", l.Country, valid.Country}} {
		if err := valid.Text(p.v, p.max); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	if err := valid.Text(l.Key(), valid.LocationKey); err != nil {
		return fmt.Errorf("postal code, city and country together: %w", err)
	}
	return nil
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ImportError{Line: pe.Line, Err: pe.Err}
	}
	return fmt.Errorf("read csv: %w", err)
}

// shipmentKey identifies a shipment: a struct, so no byte inside either
// field can make two shipments collide.
type shipmentKey struct{ carrier, trackingNumber string }

// CarrierKey is the case-insensitive form of a carrier name: "dhl" finds
// "DHL".
func CarrierKey(carrier string) string {
	return strings.ToLower(strings.TrimSpace(carrier))
}

// CSVColumns returns the columns of an import file (a copy), the names an
// ImportError's Column may hold.
func CSVColumns() []string { return slices.Clone(csvColumns) }
