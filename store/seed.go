package store

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
)

//go:embed seed/shipments.csv
var seedCSV []byte

// SeedIfEmpty imports the embedded seed shipments when the database holds
// no shipment yet. It reports whether it imported.
func (s *Store) SeedIfEmpty(ctx context.Context) (ImportResult, bool, error) {
	n, err := s.Count(ctx)
	if err != nil {
		return ImportResult{}, false, err
	}
	if n > 0 {
		return ImportResult{}, false, nil
	}
	res, err := s.ImportCSV(ctx, bytes.NewReader(seedCSV))
	if err != nil {
		return ImportResult{}, false, fmt.Errorf("store: seed: %w", err)
	}
	return res, true, nil
}
