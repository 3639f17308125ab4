package api

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// webFS holds the Track & Trace page: index.html and the assets it loads
// (app.js, style.css, icons/*.svg). Nothing is fetched from another host.
//
//go:embed web
var webFS embed.FS

// Security headers of every page and asset response. The page has no
// inline script or style, so the policy can stay at 'self'.
var webHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; base-uri 'none'; form-action 'self'; " +
		"frame-ancestors 'none'; object-src 'none'",
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy":        "same-origin",
	"X-Frame-Options":        "DENY",
}

// webTypes are the content types of the embedded files, by extension; a
// fixed table so the machine's mime.types cannot change them.
var webTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
}

// webFile is one embedded file, ready to serve.
type webFile struct {
	body    []byte
	ctype   string
	etag    string // strong ETag: quoted hash of the body
	version string // short hash used as ?v= in the page's asset URLs
}

// webSite is the page and its assets, loaded once at start-up.
type webSite struct {
	index  webFile
	assets map[string]webFile // by path under /assets/, e.g. "app.js"
}

func newWebFile(name string, body []byte) webFile {
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
	ctype := webTypes[path.Ext(name)]
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	return webFile{body: body, ctype: ctype, etag: `"` + h[:32] + `"`, version: h[:12]}
}

// loadWebSite reads the embedded files. index.html's references to
// /assets/NAME get ?v=HASH so a new release is never hidden by a cached
// old asset, and versioned assets can be cached for a year.
func loadWebSite() (*webSite, error) {
	root, err := fs.Sub(webFS, "web")
	if err != nil {
		return nil, err
	}
	site := &webSite{assets: map[string]webFile{}}
	var index []byte
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		if p == "index.html" {
			index = body
			return nil
		}
		site.assets[p] = newWebFile(p, body)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for name, f := range site.assets {
		index = bytes.ReplaceAll(index, []byte(`"/assets/`+name+`"`), []byte(`"/assets/`+name+`?v=`+f.version+`"`))
	}
	site.index = newWebFile("index.html", index)
	return site, nil
}

// mustLoadWebSite is loadWebSite for start-up: the files are compiled in,
// so failing to read them is a build bug.
func mustLoadWebSite() *webSite {
	site, err := loadWebSite()
	if err != nil {
		panic("api: embedded web files: " + err.Error())
	}
	return site
}

func setWebHeaders(h http.Header) {
	for k, v := range webHeaders {
		h.Set(k, v)
	}
}

// serveIndex serves the page. It is revalidated on every load (cheap: an
// ETag), so a deploy shows up at once and its asset URLs change with it.
func (w *webSite) serveIndex(c echo.Context) error {
	h := c.Response().Header()
	setWebHeaders(h)
	h.Set(echo.HeaderCacheControl, "no-cache")
	return serveWebFile(c, "index.html", w.index)
}

// serveAsset serves one embedded asset; anything else is a 404 problem.
func (w *webSite) serveAsset(c echo.Context) error {
	name := c.Param("*")
	if !fs.ValidPath(name) || strings.Contains(name, "\\") {
		return echo.ErrNotFound
	}
	f, ok := w.assets[name]
	if !ok {
		return echo.ErrNotFound
	}
	h := c.Response().Header()
	setWebHeaders(h)
	if v := c.QueryParam("v"); v != "" && v == f.version {
		h.Set(echo.HeaderCacheControl, "public, max-age=31536000, immutable")
	} else {
		h.Set(echo.HeaderCacheControl, "public, max-age=300")
	}
	return serveWebFile(c, name, f)
}

func serveWebFile(c echo.Context, name string, f webFile) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, f.ctype)
	h.Set("ETag", f.etag)
	// ServeContent answers If-None-Match with 304 and handles Range; its
	// errors (416) become problems.
	w := &contentErrors{ResponseWriter: c.Response()}
	http.ServeContent(w, c.Request(), name, time.Time{}, bytes.NewReader(f.body))
	return w.err()
}
