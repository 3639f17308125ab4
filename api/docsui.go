package api

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// rapidocGz is RapiDoc's browser bundle (npm package rapidoc, version in
// docsui/VERSION), gzip-compressed by docsui/update.sh. Embedded
// compressed it adds 218 KB to the binary instead of 863 KB, and most
// browsers get these bytes as they are.
//
//go:embed docsui/rapidoc-min.js.gz
var rapidocGz []byte

// docsScriptPath is where /docs loads RapiDoc from.
const docsScriptPath = "/docs/assets/rapidoc-min.js"

// docsUI is the /docs page and the script it loads, ready to serve.
type docsUI struct {
	page     []byte // docs.html, its script URL versioned
	gz       []byte // the script, gzip-compressed
	size     int64  // the script's length uncompressed
	etag     string // of the uncompressed script; the gzip one adds -gz
	version  string // short hash of the script, its ?v= in the page
	pageETag string
}

// mustLoadDocsUI loads the compiled-in viewer; failing to read it is a
// build bug, not a runtime condition.
func mustLoadDocsUI() *docsUI {
	ui, err := loadDocsUI(rapidocGz, docsPage)
	if err != nil {
		panic("api: embedded docs viewer: " + err.Error())
	}
	return ui
}

// loadDocsUI decompresses the script once, so a damaged .gz fails at
// start-up rather than halfway through a response, and to know its hash
// and length.
func loadDocsUI(gz, page []byte) (*docsUI, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("rapidoc-min.js.gz: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(h, zr)
	if err != nil {
		return nil, fmt.Errorf("rapidoc-min.js.gz: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	ui := &docsUI{gz: gz, size: n, etag: `"` + sum[:32] + `"`, version: sum[:12]}
	ref := []byte(`"` + docsScriptPath + `"`)
	if !bytes.Contains(page, ref) {
		return nil, fmt.Errorf("docs.html does not load %s", docsScriptPath)
	}
	ui.page = bytes.ReplaceAll(page, ref, []byte(`"`+docsScriptPath+`?v=`+ui.version+`"`))
	ps := sha256.Sum256(ui.page)
	ui.pageETag = `"` + hex.EncodeToString(ps[:16]) + `"`
	return ui, nil
}

// servePage serves /docs. It is revalidated on every load (an ETag), so a
// deploy that updates RapiDoc shows at once with its new script URL.
func (ui *docsUI) servePage(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", docsCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set(echo.HeaderCacheControl, "no-cache")
	return serveWebFile(c, "docs.html", webFile{body: ui.page, ctype: echo.MIMETextHTMLCharsetUTF8, etag: ui.pageETag})
}

// serveScript serves RapiDoc: the embedded gzip bytes to clients that
// accept gzip (every browser), decompressed while sending to the rest.
// With the current ?v= it is cached for a year: a new version has a new URL.
func (ui *docsUI) serveScript(c echo.Context) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/javascript; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	if v := c.QueryParam("v"); v != "" && v == ui.version {
		h.Set(echo.HeaderCacheControl, "public, max-age=31536000, immutable")
	} else {
		h.Set(echo.HeaderCacheControl, "public, max-age=300")
	}
	r := c.Request()
	if acceptsGzip(r.Header.Get(echo.HeaderAcceptEncoding)) {
		h.Set(echo.HeaderContentEncoding, "gzip")
		return serveWebFile(c, "rapidoc-min.js", webFile{body: ui.gz, ctype: h.Get(echo.HeaderContentType), etag: ui.etag[:len(ui.etag)-1] + `-gz"`})
	}
	h.Set("ETag", ui.etag)
	if etagMatches(r.Header.Get("If-None-Match"), ui.etag) {
		return c.NoContent(http.StatusNotModified)
	}
	zr, err := gzip.NewReader(bytes.NewReader(ui.gz))
	if err != nil {
		return fmt.Errorf("rapidoc-min.js.gz: %w", err) // checked at start-up
	}
	h.Set(echo.HeaderContentLength, strconv.FormatInt(ui.size, 10))
	c.Response().WriteHeader(http.StatusOK)
	// The body was read whole at start-up, so only the client can fail
	// here, after the status is sent: nothing left to tell it.
	_, _ = io.Copy(c.Response(), zr)
	return nil
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip: named
// (or covered by *) and not with q=0. An explicit gzip entry beats *.
func acceptsGzip(header string) bool {
	gzipQ, starQ := -1.0, -1.0
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(k, "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip", "x-gzip":
			gzipQ = q
		case "*":
			starQ = q
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}

// etagMatches reports whether an If-None-Match header names etag (weak
// comparison, as for GET) or is *.
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
