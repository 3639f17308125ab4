package api

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// openAPIDoc is written by hand next to the handlers rather than generated
// from them, so it can say what Go types cannot (examples, which headers
// appear when, the problem bodies of each status). openapi_test.go keeps it
// honest: it fails when a route and the document disagree, and validates
// real responses against it.
//
//go:embed openapi.json
var openAPIDoc []byte

// docsPage renders openapi.json in the browser with its own inline script
// and style, so the reference works offline and behind firewalls; each
// operation has a "Try it out" panel that sends the request from the page.
// Not Swagger UI or RapiDoc: embedded gzip-compressed they add 485 KB and
// 218 KB to a release binary that must stay under its size limit, where
// this panel adds 4 KB.
//
//go:embed docs.html
var docsPage []byte

// docsCSP lets the docs page run exactly its own inline script and style
// (pinned by hash) and fetch only from its own origin: a browser then
// refuses anything a later edit might pull in from a CDN.
var docsCSP = "default-src 'none'; " +
	"script-src " + inlineHashes(docsPage, "script") + "; " +
	"style-src " + inlineHashes(docsPage, "style") + "; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// OpenAPI returns the API's OpenAPI 3.1 document, as served at
// GET /openapi.json. It is a copy: the served bytes cannot be changed
// through it.
func OpenAPI() []byte { return bytes.Clone(openAPIDoc) }

// serveOpenAPI sends the document as application/json rather than the
// registered application/vnd.oai.openapi+json: browsers' JSON viewers,
// fetch().json(), curl | jq and code generators all recognise plain JSON,
// and the document states its own version in its "openapi" field.
func serveOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDoc)
}

func serveDocs(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", docsCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	return c.Blob(http.StatusOK, echo.MIMETextHTMLCharsetUTF8, docsPage)
}

// inlineHashes returns the CSP source list allowing each inline <tag>
// element of page by the SHA-256 of its text, or 'none' when there is
// none. Hashes rather than 'unsafe-inline' keep the policy meaningful: only
// the embedded code runs, never markup injected into the page.
func inlineHashes(page []byte, tag string) string {
	var srcs []string
	rest := string(page)
	for {
		_, after, ok := strings.Cut(rest, "<"+tag)
		if !ok {
			break
		}
		_, body, ok := strings.Cut(after, ">") // skip the opening tag's attributes
		if !ok {
			break
		}
		text, tail, ok := strings.Cut(body, "</"+tag+">")
		if !ok {
			break
		}
		sum := sha256.Sum256([]byte(text))
		srcs = append(srcs, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
		rest = tail
	}
	if len(srcs) == 0 {
		return "'none'"
	}
	return strings.Join(srcs, " ")
}
