package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/shiptrack/shiptrack/shipment"
	"gorm.io/gorm"
)

// The streaming importer: a shipments file is read once, each row
// validated alone and staged in a temporary table of the import's own
// transaction; the rule across rows (a shipment's rows agree) is one SQL
// query; then the shipments are read back from the staging table a page
// at a time, in the order of their first row, and written by the same
// code as Import. Go holds one page, never the file, so memory stays
// flat in the file's size, and a shipment's rows may be anywhere in it.

// stageBatch is the rows of one staging INSERT: 12 parameters a row,
// under SQLite's 32,766 and PostgreSQL's 65,535.
const stageBatch = 500

// ImportPhase names what a long import is doing, for progress lines.
type ImportPhase string

// Phases of a streamed import.
const (
	PhaseRead  ImportPhase = "reading"
	PhaseCheck ImportPhase = "checking"
	PhaseWrite ImportPhase = "writing"
)

// ImportProgress is reported while an import runs: Rows is the rows read
// (reading) or the article rows written (writing).
type ImportProgress struct {
	Phase ImportPhase
	Rows  int
}

// ImportOptions tune ImportCSVWith.
type ImportOptions struct {
	// Progress, when set, is called every few thousand rows and at each
	// phase's start; it must be quick.
	Progress func(ImportProgress)
}

const stageColumns = "line, carrier_key, tn, tracking_display, carrier, sender, receiver, status, name, qty, price_cents, sku"

var stageColumnList = strings.Split(strings.ReplaceAll(stageColumns, " ", ""), ",")

// importStream imports a shipments file in one transaction; see above.
func (s *Store) importStream(ctx context.Context, r io.Reader, opt ImportOptions) (ImportResult, error) {
	progress := opt.Progress
	if progress == nil {
		progress = func(ImportProgress) {}
	}
	var res ImportResult
	var copyFrom copyFunc // PostgreSQL's COPY, on the transaction's connection
	body := func(tx *gorm.DB) error {
		now, err := s.beginImport(tx)
		if err != nil {
			return err
		}
		if err := s.createStage(tx); err != nil {
			return err
		}
		if s.driver == "postgres" {
			// The check and the set-based writes sort and hash-join
			// tables of a million rows: with the default 4 MB they spill
			// to disk in many batches. This transaction only.
			for _, q := range []string{"SET LOCAL work_mem = '64MB'", "SET LOCAL maintenance_work_mem = '256MB'"} {
				if err := tx.Exec(q).Error; err != nil {
					return err
				}
			}
		}
		progress(ImportProgress{Phase: PhaseRead})
		rows, readErr := stageRows(tx, r, progress, copyFrom)
		var ie *shipment.ImportError
		if readErr != nil && !errors.As(readErr, &ie) {
			return readErr
		}
		// A conflict on an earlier line than a bad row is the first error
		// of the file, as when the file was parsed whole.
		progress(ImportProgress{Phase: PhaseCheck, Rows: rows})
		if err := s.groupStage(tx); err != nil {
			return err
		}
		if err := firstConflict(tx); err != nil {
			return err
		}
		if readErr != nil {
			return readErr
		}
		res.Articles = rows
		var n int64
		if err := tx.Raw("SELECT COUNT(*) FROM import_ships").Scan(&n).Error; err != nil {
			return err
		}
		res.Shipments = int(n)

		progress(ImportProgress{Phase: PhaseWrite})
		if copyFrom != nil {
			err = writeStagedPG(ctx, tx, now, copyFrom, &res)
		} else {
			err = s.writeStagedPages(ctx, tx, now, progress, &res)
		}
		if err != nil {
			return err
		}
		if err := s.dropStage(tx); err != nil {
			return err
		}
		if res.Created+res.Updated > 0 {
			return s.analyze(tx)
		}
		return nil
	}
	var err error
	if s.driver == "postgres" {
		// COPY fills the staging table several times faster than INSERTs;
		// pgx offers it on its own connection, so the transaction is begun
		// on one connection held for the import, and COPY reaches it
		// through database/sql's Raw.
		err = s.db.WithContext(ctx).Connection(func(c *gorm.DB) error {
			conn, ok := c.Statement.ConnPool.(*sql.Conn)
			if !ok {
				return fmt.Errorf("store: import: connection is %T, not *sql.Conn", c.Statement.ConnPool)
			}
			copyFrom = func(table string, cols []string, rows [][]any) error {
				return conn.Raw(func(dc any) error {
					pc, ok := dc.(*stdlib.Conn)
					if !ok {
						return fmt.Errorf("driver connection is %T, not pgx", dc)
					}
					_, err := pc.Conn().CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
					return err
				})
			}
			return c.Transaction(body)
		})
	} else {
		err = s.db.WithContext(ctx).Transaction(body)
	}
	if err != nil {
		var ie *shipment.ImportError
		if errors.As(err, &ie) {
			return ImportResult{}, err
		}
		return ImportResult{}, fmt.Errorf("store: import: %w", wrapUnavailable(err))
	}
	return res, nil
}

// createStage makes the staging tables, private to the transaction's
// connection; PostgreSQL drops them at commit or rollback, SQLite undoes
// their creation on rollback and dropStage drops them after a commit.
func (s *Store) createStage(tx *gorm.DB) error {
	onCommit := ""
	if s.driver == "postgres" {
		onCommit = " ON COMMIT DROP"
	} else {
		for _, t := range []string{"import_rows", "import_ships"} {
			if err := tx.Exec("DROP TABLE IF EXISTS temp." + t).Error; err != nil {
				return err
			}
		}
	}
	return tx.Exec("CREATE TEMP TABLE import_rows (line BIGINT NOT NULL, carrier_key TEXT NOT NULL, tn TEXT NOT NULL," +
		" tracking_display TEXT NOT NULL, carrier TEXT NOT NULL, sender TEXT NOT NULL, receiver TEXT NOT NULL," +
		" status TEXT NOT NULL, name TEXT NOT NULL, qty BIGINT NOT NULL, price_cents BIGINT NOT NULL, sku TEXT NOT NULL)" + onCommit).Error
}

func (s *Store) dropStage(tx *gorm.DB) error {
	if s.driver == "postgres" {
		return nil // ON COMMIT DROP
	}
	if err := tx.Exec("DROP TABLE temp.import_rows").Error; err != nil {
		return err
	}
	return tx.Exec("DROP TABLE temp.import_ships").Error
}

// stageRows reads and validates the file, inserting its rows into
// import_rows in batches; it returns the rows staged. A bad row ends the
// read with its *shipment.ImportError, the rows before it staged.
// With copyFrom set, rows go through it (COPY) in batches of copyBatch.
func stageRows(tx *gorm.DB, r io.Reader, progress func(ImportProgress), copyFrom copyFunc) (int, error) {
	if copyFrom != nil {
		return copyStage(r, progress, copyFrom)
	}
	rowSQL := "(?" + strings.Repeat(",?", 11) + ")"
	full := "INSERT INTO import_rows (" + stageColumns + ") VALUES " + rowSQL + strings.Repeat(","+rowSQL, stageBatch-1)
	args := make([]any, 0, 12*stageBatch)
	rows := 0
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		q := full
		if n := len(args) / 12; n < stageBatch {
			q = "INSERT INTO import_rows (" + stageColumns + ") VALUES " + rowSQL + strings.Repeat(","+rowSQL, n-1)
		}
		if err := tx.Exec(q, args...).Error; err != nil {
			return err
		}
		args = args[:0]
		progress(ImportProgress{Phase: PhaseRead, Rows: rows})
		return nil
	}
	err := shipment.ScanCSV(r, func(row shipment.CSVRow) error {
		a := row.Article
		args = append(args, row.Line, shipment.CarrierKey(row.Carrier), shipment.NormalizeTrackingNumber(row.TrackingNumber),
			row.TrackingNumber, row.Carrier, row.SenderAddress, row.ReceiverAddress, row.Status,
			a.Name, a.Quantity, int64(a.Price), a.SKU)
		rows++
		if len(args) == 12*stageBatch {
			return flush()
		}
		return nil
	})
	if ferr := flush(); err == nil {
		err = ferr
	}
	return rows, err
}

// copyBatch is the rows of one COPY: a few MB of values held at a time.
const copyBatch = 10_000

// copyFunc copies rows into a table's columns (PostgreSQL's COPY).
type copyFunc func(table string, cols []string, rows [][]any) error

func copyStage(r io.Reader, progress func(ImportProgress), copyFrom copyFunc) (int, error) {
	buf := make([][]any, 0, copyBatch)
	rows := 0
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if err := copyFrom("import_rows", stageColumnList, buf); err != nil {
			return err
		}
		buf = buf[:0]
		progress(ImportProgress{Phase: PhaseRead, Rows: rows})
		return nil
	}
	err := shipment.ScanCSV(r, func(row shipment.CSVRow) error {
		a := row.Article
		buf = append(buf, []any{int64(row.Line), shipment.CarrierKey(row.Carrier), shipment.NormalizeTrackingNumber(row.TrackingNumber),
			row.TrackingNumber, row.Carrier, row.SenderAddress, row.ReceiverAddress, row.Status,
			a.Name, int64(a.Quantity), int64(a.Price), a.SKU})
		rows++
		if len(buf) == copyBatch {
			return flush()
		}
		return nil
	})
	if ferr := flush(); err == nil {
		err = ferr
	}
	return rows, err
}

// groupStage makes import_ships: one row per shipment of the file, with
// the line of its first row, by which shipments are written in file order.
func (s *Store) groupStage(tx *gorm.DB) error {
	onCommit := ""
	if s.driver == "postgres" {
		onCommit = " ON COMMIT DROP"
	}
	for _, q := range []string{
		"CREATE INDEX import_rows_key ON import_rows (carrier_key, tn, line)",
		"CREATE TEMP TABLE import_ships" + onCommit + " AS SELECT carrier_key, tn, MIN(line) AS first_line FROM import_rows GROUP BY carrier_key, tn",
		"CREATE UNIQUE INDEX import_ships_first ON import_ships (first_line)",
	} {
		if err := tx.Exec(q).Error; err != nil {
			return err
		}
	}
	if s.driver == "postgres" {
		// Temporary tables get no statistics from autovacuum: without
		// them the page reads below may plan as whole-table joins.
		return tx.Exec("ANALYZE import_rows, import_ships").Error
	}
	return nil
}

// firstConflict returns the conflict of the earliest row that disagrees
// with its shipment's first row on the sender, receiver or status, as
// shipment.ParseCSV would, or nil.
func firstConflict(tx *gorm.DB) error {
	var c []struct {
		Line, FirstLine                         int
		Sender, Receiver, Status                string
		FirstSender, FirstReceiver, FirstStatus string
	}
	err := tx.Raw("SELECT r.line AS line, f.line AS first_line, r.sender AS sender, r.receiver AS receiver, r.status AS status," +
		" f.sender AS first_sender, f.receiver AS first_receiver, f.status AS first_status" +
		" FROM import_ships g JOIN import_rows f ON f.carrier_key = g.carrier_key AND f.tn = g.tn AND f.line = g.first_line" +
		" JOIN import_rows r ON r.carrier_key = g.carrier_key AND r.tn = g.tn AND r.line > g.first_line" +
		" WHERE r.sender <> f.sender OR r.receiver <> f.receiver OR r.status <> f.status" +
		" ORDER BY r.line LIMIT 1").Scan(&c).Error
	if err != nil || len(c) == 0 {
		return err
	}
	x := c[0]
	switch {
	case x.Sender != x.FirstSender:
		return shipment.ConflictError(x.Line, "sender_address", x.Sender, x.FirstLine)
	case x.Receiver != x.FirstReceiver:
		return shipment.ConflictError(x.Line, "receiver_address", x.Receiver, x.FirstLine)
	default:
		return shipment.ConflictError(x.Line, "status", x.Status, x.FirstLine)
	}
}

const stagedSelect = "SELECT g.first_line, r.tracking_display, r.carrier, r.sender, r.receiver, r.status, r.name, r.qty, r.price_cents, r.sku"

// writeStagedPages writes the staged shipments a page of at most
// importBatch at a time, in the order of their first rows, by the code
// Import uses (SQLite: its writes are cheap enough from Go, and a page
// keeps memory flat). Pages go through import_ships's index rather than a
// cursor, which would keep a statement open on the connection the writes
// use.
func (s *Store) writeStagedPages(ctx context.Context, tx *gorm.DB, now time.Time, progress func(ImportProgress), res *ImportResult) error {
	locIDs := make(map[string]uint64)
	nextAnalyze := 10_000
	written, after := 0, 0
	for {
		batch, last, err := readStagedShipments(tx, after, importBatch)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		after = last
		created, err := upsertLocationsInto(tx, batch, locIDs)
		if err != nil {
			return err
		}
		res.NewLocations = append(res.NewLocations, created...)
		if err := writeShipments(ctx, tx, batch, locIDs, now, res); err != nil {
			return err
		}
		for _, si := range batch {
			written += len(si.Articles)
		}
		progress(ImportProgress{Phase: PhaseWrite, Rows: written})
		if res.Created >= nextAnalyze {
			if err := s.analyze(tx); err != nil {
				return err
			}
			nextAnalyze *= 2
		}
	}
}

// scanStaged appends rows of stagedSelect to out, a shipment per first
// line.
func scanStaged(rows *sql.Rows, out []shipment.ShipmentInput) ([]shipment.ShipmentInput, error) {
	for rows.Next() {
		var (
			first                                        int
			tn, carrier, sender, receiver, st, name, sku string
			qty                                          int
			price                                        int64
		)
		if err := rows.Scan(&first, &tn, &carrier, &sender, &receiver, &st, &name, &qty, &price, &sku); err != nil {
			return nil, err
		}
		art := shipment.Article{Name: name, Quantity: qty, Price: shipment.Money(price), SKU: sku}
		if len(out) > 0 && out[len(out)-1].Line == first {
			out[len(out)-1].Articles = append(out[len(out)-1].Articles, art)
			continue
		}
		out = append(out, shipment.ShipmentInput{Line: first, TrackingNumber: tn, Carrier: carrier, SenderAddress: sender,
			ReceiverAddress: receiver, Status: st, Articles: []shipment.Article{art}})
	}
	return out, rows.Err()
}

// readStagedShipments reads the next limit shipments whose first row comes
// after line after, with their articles in file order; last is the first
// line of the last one.
func readStagedShipments(tx *gorm.DB, after, limit int) (out []shipment.ShipmentInput, last int, err error) {
	rows, err := tx.Raw(stagedSelect+
		" FROM (SELECT carrier_key, tn, first_line FROM import_ships WHERE first_line > ? ORDER BY first_line LIMIT ?) g"+
		" JOIN import_rows r ON r.carrier_key = g.carrier_key AND r.tn = g.tn ORDER BY g.first_line, r.line", after, limit).Rows()
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out, err = scanStaged(rows, nil)
	if len(out) > 0 {
		last = out[len(out)-1].Line
	}
	return out, last, err
}
