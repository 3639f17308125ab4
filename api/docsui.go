package api

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// docsFiles is Swagger UI (npm package swagger-ui-dist, version in
// docsui/VERSION; the .gz files are written by docsui/update.sh) and our
// init.js that starts it. Embedded compressed, the bundle and its CSS add
// 485 KB to the binary instead of 1.9 MB, and browsers get these bytes as
// they are.
//
//go:embed docsui/swagger-ui-bundle.js.gz docsui/swagger-ui.css.gz docsui/init.js
var docsFiles embed.FS

// docsAssetsPath is where /docs loads its files from.
const docsAssetsPath = "/docs/assets/"

// docsTypes are the Content-Types of the files /docs loads, by extension.
var docsTypes = map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}

// docsAsset is one file the /docs page loads.
type docsAsset struct {
	gz      []byte // gzip-compressed
	size    int64  // length uncompressed
	ctype   string
	etag    string // of the uncompressed file; the gzip one adds -gz
	version string // short hash of the file, its ?v= in the page
}

// docsUI is the /docs page and the files it loads, ready to serve.
type docsUI struct {
	page     []byte // docs.html, its asset URLs versioned
	pageETag string
	assets   map[string]*docsAsset // by name under /docs/assets/
}

// mustLoadDocsUI loads the compiled-in viewer; failing to read it is a
// build bug, not a runtime condition.
func mustLoadDocsUI() *docsUI {
	ui, err := loadDocsUI(docsFiles, "docsui", docsPage)
	if err != nil {
		panic("api: embedded docs viewer: " + err.Error())
	}
	return ui
}

// loadDocsUI reads every file in dir of files: NAME.gz is served as NAME,
// other files are compressed here. It decompresses each .gz once, so a
// damaged one fails at start-up rather than halfway through a response,
// and to know its hash and length. The page must load every file.
func loadDocsUI(files fs.FS, dir string, page []byte) (*docsUI, error) {
	entries, err := fs.ReadDir(files, dir)
	if err != nil {
		return nil, fmt.Errorf("docs assets: %w", err)
	}
	ui := &docsUI{assets: map[string]*docsAsset{}}
	for _, e := range entries {
		b, err := fs.ReadFile(files, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("docs assets: %w", err)
		}
		name, compressed := strings.CutSuffix(e.Name(), ".gz")
		a, err := newDocsAsset(b, compressed)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		if a.ctype = docsTypes[path.Ext(name)]; a.ctype == "" {
			return nil, fmt.Errorf("docs assets: %s: unknown type", name)
		}
		ref := []byte(`"` + docsAssetsPath + name + `"`)
		if !bytes.Contains(page, ref) {
			return nil, fmt.Errorf("docs.html does not load %s%s", docsAssetsPath, name)
		}
		page = bytes.ReplaceAll(page, ref, []byte(`"`+docsAssetsPath+name+`?v=`+a.version+`"`))
		ui.assets[name] = a
	}
	ui.page = page
	ps := sha256.Sum256(page)
	ui.pageETag = `"` + hex.EncodeToString(ps[:16]) + `"`
	return ui, nil
}

// newDocsAsset hashes b (gzip-compressed if compressed, else plain) and
// keeps it gzip-compressed.
func newDocsAsset(b []byte, compressed bool) (*docsAsset, error) {
	plain := io.Reader(bytes.NewReader(b))
	if compressed {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		plain = zr
	} else {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level
		_, _ = zw.Write(b)                                       // to a bytes.Buffer
		if err := zw.Close(); err != nil {
			return nil, err
		}
		b = buf.Bytes()
	}
	h := sha256.New()
	n, err := io.Copy(h, plain)
	if err != nil {
		return nil, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	return &docsAsset{gz: b, size: n, etag: `"` + sum[:32] + `"`, version: sum[:12]}, nil
}

// servePage serves /docs. It is revalidated on every load (an ETag), so a
// deploy that updates Swagger UI shows at once with its new asset URLs.
func (ui *docsUI) servePage(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", docsCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set(echo.HeaderCacheControl, "no-cache")
	return serveWebFile(c, "docs.html", webFile{body: ui.page, ctype: echo.MIMETextHTMLCharsetUTF8, etag: ui.pageETag})
}

// serveAsset serves /docs/assets/:name: the embedded gzip bytes to clients
// that accept gzip (every browser), decompressed while sending to the
// rest. With the current ?v= it is cached for a year: a new version has a
// new URL.
func (ui *docsUI) serveAsset(c echo.Context) error {
	a := ui.assets[c.Param("name")]
	if a == nil {
		return echo.ErrNotFound
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, a.ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	if v := c.QueryParam("v"); v != "" && v == a.version {
		h.Set(echo.HeaderCacheControl, "public, max-age=31536000, immutable")
	} else {
		h.Set(echo.HeaderCacheControl, "public, max-age=300")
	}
	r := c.Request()
	if acceptsGzip(r.Header.Get(echo.HeaderAcceptEncoding)) {
		h.Set(echo.HeaderContentEncoding, "gzip")
		return serveWebFile(c, c.Param("name"), webFile{body: a.gz, ctype: a.ctype, etag: a.etag[:len(a.etag)-1] + `-gz"`})
	}
	h.Set("ETag", a.etag)
	if etagMatches(r.Header.Get("If-None-Match"), a.etag) {
		return c.NoContent(http.StatusNotModified)
	}
	zr, err := gzip.NewReader(bytes.NewReader(a.gz))
	if err != nil {
		return fmt.Errorf("docs asset %s: %w", c.Param("name"), err) // checked at start-up
	}
	h.Set(echo.HeaderContentLength, strconv.FormatInt(a.size, 10))
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
